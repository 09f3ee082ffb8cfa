import numpy as np
import pytest

from kiln.errors import ConfigError
from kiln.training import choose_threshold
from kiln.training._criteria import parse_criterion


def test_parse_and_check_criteria():
    criterion = parse_criterion("roc_auc>=0.85")
    assert (criterion.metric, criterion.op, criterion.value, criterion.split) == (
        "roc_auc",
        ">=",
        0.85,
        None,
    )
    metrics = {"validation": {"roc_auc": 0.9}, "test": {"roc_auc": 0.84}}
    assert criterion.check(metrics) == {
        "criterion": "roc_auc>=0.85",
        "kind": "metric",
        "split": "test",
        "metric": "roc_auc",
        "op": ">=",
        "value": 0.84,
        "threshold": 0.85,
        "passed": False,
    }
    assert parse_criterion("validation.roc_auc>=0.85").check(metrics)["passed"] is True
    assert parse_criterion("rmse < 3e3").value == 3000.0


@pytest.mark.parametrize("text", ["roc_auc", ">= 0.8", "roc_auc => 0.8", "roc_auc >= high"])
def test_unreadable_criteria(text):
    with pytest.raises(ConfigError, match="METRIC OP NUMBER"):
        parse_criterion(text)


def test_threshold_minimises_expected_cost():
    y = np.array([0] * 90 + [1] * 10)
    scores = np.r_[np.linspace(0.0, 0.6, 90), np.linspace(0.3, 0.9, 10)]
    cheap_misses, table = choose_threshold(y, scores, cost_fp=1, cost_fn=1)
    costly_misses, _ = choose_threshold(y, scores, cost_fp=1, cost_fn=50)
    assert costly_misses < cheap_misses
    assert len(table) == 99 and {"precision", "recall", "f1", "cost"} <= set(table[0])


@pytest.fixture
def churn(ws, churn_csv):
    ws.data.ingest(churn_csv, name="churn")
    return ws


def test_failing_criteria_register_a_rejected_model(churn):
    result = churn.train(
        "churn", target="churn", algorithm="linear", require=["roc_auc>=0.99", "accuracy>0.5"]
    )
    assert result.model.approval_status == "Rejected"
    assert "roc_auc>=0.99" in result.model.approval_reason
    assert [c["passed"] for c in result.criteria] == [False, True]
    assert result.to_dict()["passed"] is False
    # A model that meets its criteria stays PendingManualApproval: checked on the cost test's
    # model below, which trains with require=["roc_auc>=0.8"] (one training job less).


def test_unknown_metric_in_a_criterion_fails_before_the_job(churn):
    with pytest.raises(ConfigError, match="Did you mean 'roc_auc'"):
        churn.train("churn", target="churn", algorithm="linear", require=["rocauc>0.8"])
    assert churn.jobs.list() == []


def test_cost_picks_the_threshold_the_model_then_uses(churn):
    result = churn.train(
        "churn", target="churn", algorithm="linear", cost_fp=1, cost_fn=10, require=["roc_auc>=0.8"]
    )
    # Met criteria (ROC-AUC does not depend on the threshold) leave the model for a person.
    assert result.model.approval_status == "PendingManualApproval"
    assert result.to_dict()["passed"] is True
    threshold = result.job.result["threshold"]
    assert threshold < 0.5
    assert result.model.signature["outputs"]["threshold"] == threshold
    model = churn.models.load(result.model.ref)
    test = churn.data.load(result.job.result["splits"]["test"])
    proba = model.predict_proba(test)[:, 1]
    labels = model.predict(test)
    assert ((proba >= threshold) == (labels == "Yes")).all()
    assert result.metrics["test"]["recall"] > 0.7
    assert len(result.metrics["threshold_analysis"]) == 99
