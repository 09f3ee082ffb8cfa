"""Custom estimators by import path: trained, tuned, registered, served and batch-scored like a
built-in algorithm, with their hyperparameters checked against ``__init__``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
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


def test_a_custom_estimator_tunes_trains_serves_and_batch_scores(
    ws, churn_csv, importable, run_cli, tmp_path
):
    small = tmp_path / "churn.csv"
    pd.read_csv(churn_csv).head(400).to_csv(small, index=False)
    ws.data.ingest(small, name="churn")
    # Tuning's one trial is a training job of the class; the tuning job registers its model.
    tuned = run_cli(
        "tune", "--data", "churn", "--target", "churn", "--algorithm", CUSTOM,
        "--range", "C=0.01:10:log", "--hp", "max_iter=300", "--max-jobs", "1", "--json",
        home=ws.home, check=True,
    )  # fmt: skip
    assert orjson.loads(tuned.stdout)["best"]["model"] == "churn:1"
    model = ws.models.get("churn:1")
    assert model.algorithm == CUSTOM  # the import path, for whoever loads the model
    assert 0.01 <= model.hyperparameters["C"] <= 10 and model.hyperparameters["max_iter"] == 300
    assert 0.6 < model.metrics["test"]["roc_auc"] <= 1
    assert type(ws.models.load("churn:1").pipeline[-1]).__module__ == "custom_estimators"

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


def test_the_example_estimator_keeps_the_estimator_contract(monkeypatch):
    """examples/custom/my_estimators.py: built through kiln, cloned, fitted, and its
    probabilities are probabilities."""
    from sklearn.base import clone

    monkeypatch.syspath_prepend(str(TESTS.parent / "examples" / "custom"))
    algorithm = get_algorithm("my_estimators:MarginClassifier")
    assert algorithm.problem_types == ("binary", "multiclass")
    estimator = algorithm.build_estimator("binary", algorithm.hyperparameters({"C": "2"}), 7)
    assert estimator.get_params() == clone(estimator).get_params()
    assert estimator.random_state == 7  # kiln's seed
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    assert estimator.fit(X, ["a", "b", "a", "b"]) is estimator
    proba = estimator.predict_proba(X[:1])
    assert proba.shape == (1, 2) and proba.sum() == pytest.approx(1)
    assert list(estimator.predict(X)) == ["a", "b", "a", "b"]
