"""ws.experiments.page and runs_page: experiments and their runs a page at a time, sorted by
any metric or hyperparameter."""

from __future__ import annotations

import pytest

from conftest import CHURN_CSV
from helpers import ON_BOTH_STORES
from kiln.errors import ConfigError, NotFound


@ON_BOTH_STORES
def test_runs_sort_by_metrics_and_parameters(ws):
    ws.data.ingest(CHURN_CSV, name="churn")
    for trees in (5, 40):
        ws.train(
            "churn",
            target="churn",
            algorithm="lightgbm",
            experiment="trees",
            hyperparameters={"n_estimators": trees},
        )
    ws.train("churn", target="churn", algorithm="linear", experiment="trees")
    listed = ws.experiments.page().items
    assert [(e["name"], e["runs"]) for e in listed] == [("trees", 3)]
    assert ws.experiments.page(q="re", sort="-created_at").total == 1
    assert ws.experiments.page(q="%").items == []  # % is literal
    with pytest.raises(ConfigError, match="name, created_at"):
        ws.experiments.page(sort="runs")
    page = ws.experiments.runs_page("trees", sort="-metric.roc_auc", limit=2)
    scores = [run["metrics"]["roc_auc"] for run in page.items]
    assert page.total == 3 and len(scores) == 2 and scores[0] >= scores[1]
    assert "roc_auc" in page.extra["metrics"] and "n_estimators" in page.extra["params"]
    by_trees = ws.experiments.runs_page("trees", sort="-param.n_estimators").items
    # the linear run has no n_estimators: where NULL sorts is the database's (SQLite first
    # ascending, PostgreSQL first descending)
    trees = [run["params"].get("n_estimators") for run in by_trees]
    assert [value for value in trees if value is not None] == [40, 5]
    newest = ws.experiments.runs_page("trees").items
    assert newest[0]["algorithm"] == "linear" and newest[0]["split"] == "validation"
    assert ws.experiments.runs_page("trees", status="failed").total == 0
    with pytest.raises(ConfigError) as info:
        ws.experiments.runs_page("trees", sort="metric.nope")
    assert info.value.code == "page.bad-sort"
    with pytest.raises(NotFound):
        ws.experiments.runs_page("nope")
