"""Jobs that name a problem: the target defaults from it, the model is checked against every
criterion (metric, cost, latency), and registration and approval follow the result."""

from __future__ import annotations

import json

import pytest

from kiln.errors import ConfigError, NotFound

COST = {
    "matrix": {"Yes": {"Yes": 50, "No": 500}, "No": {"Yes": 50, "No": 0}},
    "max_per_1000": 200000,
    "beat_baseline_by": 0.1,
}


@pytest.fixture
def churn(ws, churn_csv):
    ws.data.ingest(churn_csv, name="churn")
    return ws


def test_a_model_that_meets_its_problem_is_approved_with_the_results_in_its_details(churn):
    churn.problems.create(
        "churn",
        {
            "target": "churn",
            "criteria": ["roc_auc >= 0.7"],
            "cost": COST,
            "latency": {"p99_ms": 2000},
            "auto_approve": True,
        },
    )
    result = churn.train("churn", algorithm="linear", problem="churn")
    model = result.model
    assert model.target == "churn" and model.problem_type == "binary"
    assert model.approval_status == "Approved"
    assert churn.models.approvals(model.ref)[-1]["reason"] == "meets problem churn:1"
    checked = model.details["criteria"]
    assert model.details["problem"] == "churn:1" and checked["passed"] is True
    kinds = [r["kind"] for r in checked["results"]]
    assert kinds == ["metric", "cost", "cost", "latency"]
    metric, cost, beat, latency = checked["results"]
    assert metric["value"] == model.metrics["test"]["roc_auc"] and metric["split"] == "test"
    # The cost is the test confusion matrix priced by the matrix, per 1,000 predictions.
    (tn, fp), (fn, tp) = model.metrics["test"]["confusion_matrix"]
    expected = 1000 * (50 * (fp + tp) + 500 * fn) / (tn + fp + fn + tp)
    assert cost["value"] == pytest.approx(expected, abs=1e-3)
    # The baseline predicts the majority class ("No") for every row: each churner costs 500.
    assert beat["baseline_value"] == pytest.approx(1000 * 500 * (fn + tp) / (tn + fp + fn + tp))
    assert beat["threshold"] == pytest.approx(0.9 * beat["baseline_value"], abs=1e-3)
    assert 0 < latency["value"] <= 2000 and latency["rows"] == 100
    assert result.job.result["problem"] == "churn:1"
    assert result.job.result["criteria"] == checked["results"]
    logged = [line[3] for line in churn.jobs.logs(result.job.id)]
    assert any(line.startswith("Criterion p99 single-row latency <= 2000 ms: ") for line in logged)
    # Retraining trains against the problem's latest version.
    from kiln.monitoring._retrain import _training_spec_of

    assert _training_spec_of(churn, model)["options"]["problem"] == "churn"
    # The training report's "Success criteria" section (the whole report is tested elsewhere).
    from kiln.evaluation._report import _criteria_section

    section = _criteria_section(result.job.result)
    assert section.title == "Success criteria" and "problem churn:1" in section.body
    assert "cost per 1,000 predictions &lt;= 90% of the baseline (majority)" in section.body


def test_a_model_that_fails_a_criterion_is_rejected_and_the_cli_shows_why(churn, run_cli, tmp_path):
    path = tmp_path / "problem.yaml"
    path.write_text(
        "target: churn\ncriteria: [recall >= 0.99, accuracy > 0.5]\nauto_approve: true\n"
    )
    home = churn.home
    run_cli("problem", "create", "churn", "--file", str(path), home=home, check=True)
    command = ["train", "--data", "churn", "--algorithm", "linear", "--problem", "churn"]
    trained = run_cli(*command, "--json", home=home)
    assert trained.returncode == 3, trained.stderr
    out = json.loads(trained.stdout)
    assert [c["passed"] for c in out["criteria"]] == [False, True]
    assert out["problem"] == "churn:1" and out["passed"] is False
    model = churn.models.get(out["model"])
    assert model.approval_status == "Rejected"
    assert model.approval_reason.startswith("Failed success criteria: recall >= 0.99 (got 0.")
    shown = run_cli("models", "show", out["model"], home=home, check=True).stdout
    assert "problem" in shown and "churn:1" in shown and "1 of 2 passed (FAILED)" in shown
    assert "recall >= 0.99" in shown and "FAIL" in shown


def test_problem_errors_before_any_job(churn):
    with pytest.raises(NotFound, match="No problem named 'nope'") as err:
        churn.train("churn", algorithm="linear", problem="nope")
    assert err.value.code == "problem.not-found"
    churn.problems.create("churned", {"target": "churned"})
    with pytest.raises(ConfigError, match="'churned' of problem churned:1 is not a column") as err:
        churn.train("churn", algorithm="linear", problem="churned")
    assert err.value.code == "problem.target-not-in-data"
    churn.problems.create("churn", {"target": "churn"})
    with pytest.raises(ConfigError, match="'tenure' conflicts with problem churn:1.*'churn'") as e:
        churn.train("churn", algorithm="linear", target="tenure", problem="churn")
    assert e.value.code == "problem.conflict"
    churn.problems.create("costly", {"target": "tenure", "cost": COST})
    with pytest.raises(ConfigError) as err:
        churn.train("churn", algorithm="linear", problem="costly")
    assert err.value.code == "problem.cost-classes"
    assert churn.jobs.list() == []


def test_tuning_checks_its_best_model_against_the_problem(ws):
    from conftest import FIXTURES

    ws.data.ingest(FIXTURES / "credit_card_applications.csv", name="cards")
    ws.problems.create("cards", {"target": "card", "criteria": ["roc_auc >= 0.9999"]})
    result = ws.tune("cards", algorithm="linear", problem="cards", max_jobs=1)
    model = ws.models.get(result.best["model"])
    assert model.target == "card" and model.approval_status == "Rejected"
    assert model.details["problem"] == "cards:1" and model.details["criteria"]["passed"] is False
    assert result.job.result["criteria"][0]["criterion"] == "roc_auc >= 0.9999"
    # Its trials check --require only: the tuning job checks the model it registers.
    (trial,) = ws.jobs.list(parent_id=result.job.id)
    assert "problem" not in trial.result


def test_automl_takes_the_problem_before_its_job(churn):
    churn.problems.create("churn", {"target": "churn", "problem_type": "binary"})
    with pytest.raises(ConfigError, match="--problem-type 'regression' conflicts") as err:
        churn.automl("churn", time_limit=10, problem="churn", problem_type="regression")
    assert err.value.code == "problem.conflict"
    churn.problems.create("costly", {"target": "tenure", "criteria": ["recall >= 0.5"]})
    with pytest.raises(ConfigError, match="A regression model does not report 'recall'") as err:
        churn.automl("churn", time_limit=10, problem="costly")
    assert err.value.code == "problem.unknown-metric"
    assert churn.jobs.list() == []
