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
