"""SHAP values of the scikit-learn tree models shap.TreeExplainer reads, as kiln shapes them:
(rows, outputs, features), with their method and units."""

import numpy as np
import pytest

from kiln.algorithms import BINARY, MULTICLASS, REGRESSION, get_algorithm
from kiln.evaluation import shap_values


@pytest.mark.parametrize(
    ("problem_type", "outputs", "units"),
    [(BINARY, 1, "log-odds"), (MULTICLASS, 3, "log-odds"), (REGRESSION, 1, "target units")],
)
def test_hist_gradient_boosting_is_explained_by_shaps_tree_explainer(problem_type, outputs, units):
    pytest.importorskip("shap")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    signal = X[:, 2]
    if problem_type == REGRESSION:
        y = 3 * signal + 0.1 * rng.normal(size=300)
    else:
        y = np.digitize(signal, [0.0] if problem_type == BINARY else [-0.5, 0.5])
    algorithm = get_algorithm("hist_gradient_boosting")
    estimator = algorithm.build_estimator(problem_type, algorithm.hyperparameters(), 0).fit(X, y)
    values, method, shown_units = shap_values(estimator, X[:50])
    assert values.shape == (50, outputs, 4)
    assert method == "shap.TreeExplainer" and shown_units == units
    strength = np.abs(values).mean(axis=0).sum(axis=0)
    assert strength.argmax() == 2  # the one column that carries the signal


def _forest(classes: int = 3):
    from sklearn.ensemble import ExtraTreesClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = np.digitize(X[:, 0] + 0.5 * rng.normal(size=400), np.linspace(-1, 1, classes - 1))
    return ExtraTreesClassifier(30, random_state=0).fit(X, y), X


def test_tree_explainer_explains_as_many_rows_as_fit_its_seconds(monkeypatch):
    """A deep forest took shap 46 s for 40 rows where its predictions foretold 10 s: the first
    row is timed, and the rows that fit what is left are explained. (A clock of one second per
    reading: explainer built at 0, first row from 1 to 2.)"""
    pytest.importorskip("shap")
    from kiln.evaluation import _explain

    forest, X = _forest()
    ticks = iter(range(1000))
    monkeypatch.setattr(_explain.time, "perf_counter", lambda: float(next(ticks)))
    values, method, _ = shap_values(forest, X[:40], seconds=5.5)
    # 2 s spent, 1 s a row: three more rows fit the 3.5 s left.
    assert values.shape == (4, 3, 6) and method == "shap.TreeExplainer"
    whole, _, _ = shap_values(forest, X[:4])
    np.testing.assert_allclose(values, whole)


def test_tree_explainer_too_slow_for_its_minimum_rows_says_so():
    pytest.importorskip("shap")
    from kiln.evaluation import ShapUnavailable

    forest, X = _forest()
    with pytest.raises(ShapUnavailable, match=r"s a row on this ExtraTreesClassifier.*10 rows"):
        shap_values(forest, X[:40], seconds=1e-9, min_rows=10)
    # Without a budget every row given is explained, as before.
    assert shap_values(forest, X[:45])[0].shape == (45, 3, 6)
