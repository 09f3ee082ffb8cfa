"""scikit-learn's own estimator checks on kiln's estimators: the contract every pipeline, clone
and grid search relies on (parameters untouched by fit, sparse input, 1-row prediction, pickling,
error messages for bad input)."""

import warnings

import pytest
import sklearn
from sklearn.utils.estimator_checks import check_estimator

from kiln.algorithms._factorization import (
    FactorizationMachineClassifier,
    FactorizationMachineRegressor,
)
from kiln.algorithms._hist_gradient_boosting import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from kiln.algorithms._linear_learner import LinearLearnerClassifier, LinearLearnerRegressor
from kiln.algorithms._neural import NeuralNetworkClassifier, NeuralNetworkRegressor


@pytest.mark.skipif(
    tuple(int(p) for p in sklearn.__version__.split(".")[:2]) < (1, 6),
    reason="check_estimator(on_fail=None) and estimator tags arrived in scikit-learn 1.6",
)
@pytest.mark.parametrize(
    "estimator",
    [
        LinearLearnerClassifier(random_state=0),
        LinearLearnerClassifier(optimizer="sgd", epochs=20, random_state=0),
        LinearLearnerRegressor(random_state=0),
        NeuralNetworkClassifier(epochs=30, random_state=0),
        NeuralNetworkRegressor(epochs=30, random_state=0),
        FactorizationMachineClassifier(random_state=0),
        FactorizationMachineRegressor(random_state=0),
        HistGradientBoostingClassifier(max_iter=20, random_state=0, n_jobs=1),
        HistGradientBoostingRegressor(max_iter=20, random_state=0, n_jobs=1),
    ],
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'optimizer', '')}",
)
def test_scikit_learn_estimator_checks(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    failed = {
        r["check_name"]: str(r["exception"])[:300] for r in results if r["status"] == "failed"
    }
    assert not failed
