"""The learning curve refits the model with the rounds early stopping chose, read the one way
training reads them (kiln.algorithms.best_iteration)."""

from __future__ import annotations

import pytest

from conftest import CHURN_CSV
from kiln.algorithms import best_iteration, get_algorithm
from kiln.evaluation._curves import _refit_template
from kiln.evaluation._run import _load


@pytest.fixture(scope="module")
def churn_ws(tmp_path_factory):
    import kiln

    workspace = kiln.Workspace.init(tmp_path_factory.mktemp("refit") / "ws")
    workspace.data.ingest(CHURN_CSV, name="churn")
    yield workspace
    workspace.close()


def _run(ws, algorithm: str, **hp):
    result = ws.train("churn", target="churn", algorithm=algorithm, hyperparameters=hp)
    return _load(ws, ws.jobs.get(result.job.id))


def test_catboost_refits_with_its_best_iteration_counted_from_one(churn_ws):
    run = _run(churn_ws, "catboost", n_estimators=400, learning_rate=0.5, early_stopping_rounds=5)
    fitted = run.model.pipeline[-1]
    best = best_iteration(get_algorithm("catboost"), fitted)
    assert best is not None and best < 400, "early stopping should have stopped this fit"
    # CatBoost counts from 0: its attribute is one short of the number of trees to keep.
    assert best == fitted.get_best_iteration() + 1 == fitted.best_iteration_ + 1
    refit = _refit_template(run)[-1].get_params()
    assert refit["iterations"] == best
    assert not refit.get("early_stopping_rounds")


def test_lightgbm_refits_with_its_best_iteration(churn_ws):
    run = _run(churn_ws, "lightgbm", n_estimators=500, learning_rate=0.5, early_stopping_rounds=5)
    fitted = run.model.pipeline[-1]
    best = best_iteration(get_algorithm("lightgbm"), fitted)
    assert best == fitted.best_iteration_ and best < 500
    refit = _refit_template(run)[-1]
    assert refit.get_params()["n_estimators"] == best
    assert not hasattr(refit, "booster_"), "the template must be unfitted"


def test_a_model_without_early_stopping_refits_as_trained(churn_ws):
    run = _run(churn_ws, "random_forest", n_estimators=30)
    assert best_iteration(run.algorithm, run.model.pipeline[-1]) is None
    assert _refit_template(run)[-1].get_params()["n_estimators"] == 30
