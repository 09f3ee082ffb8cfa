"""Tuning jobs: trials are child training jobs; failures, parallelism, warm start and resume."""

from __future__ import annotations

import pytest

from conftest import CHURN_CSV, FIXTURES
from kiln.tuning import resume, tune


@pytest.fixture
def churn_ws(ws):
    ws.data.ingest(CHURN_CSV, name="churn")
    return ws


def test_trials_are_child_training_jobs_and_the_best_is_registered(churn_ws):
    result = tune(
        churn_ws,
        "churn",
        target="churn",
        algorithm="lightgbm",
        max_jobs=3,
        max_parallel_jobs=2,
        ranges=["learning_rate=0.01:0.3:log"],
        hyperparameters={"n_estimators": 20},
    )
    trials = result.to_dict()["trials"]
    assert len(trials) == 3 and all(t["status"] == "Completed" for t in trials)
    children = churn_ws.jobs.list(parent_id=result.job.id, limit=None)
    assert {c.id for c in children} == {t["job"] for t in trials}
    assert all(c.spec["hyperparameters"]["n_estimators"] == 20 for c in children)  # fixed
    best = max(trials, key=lambda t: t["value"])
    assert result.best["job"] == best["job"]
    model = churn_ws.models.get(result.best["model"])
    assert model.metrics["validation"]["roc_auc"] == pytest.approx(best["value"])
    assert len(churn_ws.models.list()) == 1  # only the best trial is registered


def test_a_failing_trial_is_marked_failed_and_the_search_goes_on(ws):
    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    result = tune(
        ws,
        "housing",
        target="price",
        algorithm="knn",
        strategy="grid",
        max_jobs=2,
        ranges=["n_neighbors=5,1000"],  # 1000 neighbours: more than the training rows
    )
    statuses = {
        t["hyperparameters"]["n_neighbors"]: t["status"] for t in result.to_dict()["trials"]
    }
    assert statuses == {5: "Completed", 1000: "Failed"}
    assert result.best["hyperparameters"]["n_neighbors"] == 5


def test_warm_start_and_resume_keep_finished_trials(churn_ws):
    options = dict(
        target="churn",
        algorithm="lightgbm",
        ranges=["learning_rate=0.01:0.3:log"],
        hyperparameters={"n_estimators": 20},
    )
    first = tune(churn_ws, "churn", max_jobs=2, **options)
    second = tune(churn_ws, "churn", max_jobs=1, warm_start=first.job.id, **options)
    assert len(second.to_dict()["trials"]) == 1
    logs = " ".join(m for *_, m in churn_ws.jobs.logs(second.job.id))
    assert "Warm start: 2 trial(s)" in logs
    with pytest.raises(Exception, match="only a Failed or Stopped job can resume"):
        resume(churn_ws, first.job.id)
