"""The retraining loop, end to end, as examples/retraining/retraining_loop.py runs it: drifted
traffic → drift violations → the alarm retrains → the candidate waits for approval with its
comparison → approved → canary → traffic shifts. And with no drift, nothing happens."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "retraining" / "retraining_loop.py"


def example():
    spec = importlib.util.spec_from_file_location("retraining_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_drift_retrains_and_the_approved_candidate_takes_the_traffic(two_models_copy):
    ws, first, _ = two_models_copy
    said: list[str] = []
    outcome = example().retraining_loop(
        ws, endpoint="churn", data="churn", target="churn", drift=1.0, say=said.append
    )
    assert outcome["violations"] >= 3 and outcome["alarm"] == "ALARM"
    assert {"tenure", "monthly_charges"} <= set(outcome["drifted"])
    candidate = ws.models.get(outcome["candidate"])
    assert outcome["status_before_approval"] == "PendingManualApproval"
    retraining = candidate.details["retraining"]
    assert retraining["replaces"] == first
    assert retraining["data"] == "churn:2"  # the newest version, with the replayed rows
    assert retraining["test_rows"] > 0 and "roc_auc" in retraining["comparison"]
    assert candidate.dataset_version_id == ws.data.get("churn:2").id
    assert outcome["deployed"] == candidate.ref
    assert ws.endpoints.get("churn").shares == {
        next(
            v["name"] for v in ws.endpoints.get("churn").variants if v["model"] == candidate.ref
        ): 1.0
    }
    events = ws.monitoring.alarms.history("drift-alarm")
    actions = [a for e in events for a in e["actions"]]
    assert any(a["action"].startswith("retrain:") and a["outcome"] == "ok" for a in actions)


def test_no_drift_no_alarm_no_retraining(two_models_copy):
    ws, first, second = two_models_copy
    before = [v.ref for v in ws.models.list("churn")]
    outcome = example().retraining_loop(
        ws, endpoint="churn", data="churn", target="churn", drift=0.0, say=lambda _: None
    )
    assert outcome["violations"] == 0 and outcome["alarm"] != "ALARM"
    assert outcome["candidate"] is None
    assert [v.ref for v in ws.models.list("churn")] == before
    assert ws.endpoints.get("churn").model == first
