"""Custom estimators by import path: trained, tuned, registered, served and batch-scored like a
built-in algorithm, with their hyperparameters checked against ``__init__``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kiln.algorithms import get_algorithm
from kiln.errors import ConfigError
from kiln.serving import create_app

TESTS = Path(__file__).resolve().parents[1]
CUSTOM = "custom_estimators:ShrunkLogistic"


@pytest.fixture
def importable(monkeypatch):
    """Job processes import the tests' custom_estimators module through PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", str(TESTS))


def test_a_custom_estimator_trains_tunes_serves_and_batch_scores(
    ws, churn_csv, importable, run_cli, tmp_path
):
    small = tmp_path / "churn.csv"
    pd.read_csv(churn_csv).head(400).to_csv(small, index=False)
    ws.data.ingest(small, name="churn")
    trained = run_cli(
        "train",
        "--data",
        "churn",
        "--target",
        "churn",
        "--algorithm",
        CUSTOM,
        "--hp",
        "C=0.5",
        home=ws.home,
        check=True,
    )
    assert "churn:1" in trained.stdout
    model = ws.models.get("churn:1")
    assert model.algorithm == CUSTOM  # the import path, for whoever loads the model
    assert model.hyperparameters["C"] == 0.5 and model.hyperparameters["max_iter"] == 200
    assert 0.6 < model.metrics["test"]["roc_auc"] <= 1
    assert type(ws.models.load("churn:1").pipeline[-1]).__module__ == "custom_estimators"

    tuned = ws.tune("churn", target="churn", algorithm=CUSTOM, ranges=["C=0.01:10:log"], max_jobs=1)
    assert len(tuned.job.result["trials"]) == 1 and 0.01 <= tuned.best["hyperparameters"]["C"] <= 10
    assert ws.models.get(tuned.best["model"]).algorithm == CUSTOM

    ws.endpoints.deploy("churn:1", endpoint="custom", allow_unapproved=True)
    rows = pd.read_csv(churn_csv).drop(columns=["churn"]).head(3)
    body = rows.astype(object).where(rows.notna(), None).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        answer = client.post("/endpoints/custom/invocations", json=body)
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3

    source, scored = tmp_path / "in.csv", tmp_path / "out.csv"
    rows.to_csv(source, index=False)
    job = ws.transform("churn:1", input=source, output=scored)  # loads it in a job process
    assert job.status == "Completed" and len(pd.read_csv(scored)) == 3


def test_hyperparameters_are_checked_against_the_signature():
    algorithm = get_algorithm(CUSTOM)
    assert [p.name for p in algorithm.params] == ["C", "max_iter"]  # the seed is kiln's
    assert algorithm.hyperparameters({"C": "0.1"})["C"] == 0.1
    with pytest.raises(
        ConfigError,
        match=r"custom_estimators:ShrunkLogistic has no "
        r"hyperparameter 'alpha'.*Valid ones: C, max_iter",
    ) as unknown:
        algorithm.hyperparameters({"alpha": 1})
    assert unknown.value.code == "algorithm.unknown-hyperparameter"
    with pytest.raises(ConfigError, match="'max_iter' hyperparameter .* must be an integer"):
        algorithm.hyperparameters({"max_iter": "lots"})


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("custom_estimators:NotAnEstimator", "algorithm.not-an-estimator", "has no fit or predict"),
        ("no_such_module_here:Model", "algorithm.bad-import-path", "Cannot import module"),
        ("custom_estimators:Missing", "algorithm.bad-import-path", "Its classes: NotAnEstimator"),
        ("custom estimators:X", "algorithm.bad-import-path", "package.module:ClassName"),
    ],
)
def test_a_bad_import_path_or_a_non_estimator_is_refused(path, code, message):
    with pytest.raises(ConfigError, match=message) as refused:
        get_algorithm(path)
    assert refused.value.code == code and path in str(refused.value)
