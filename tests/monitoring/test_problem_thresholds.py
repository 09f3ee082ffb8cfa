"""A model-quality monitor takes its default thresholds from the problem its model names."""

from __future__ import annotations


def test_model_quality_thresholds_default_from_the_models_problem(capturing):
    ws, _ = capturing
    model = ws.endpoints.get("churn").model
    baselines = len(ws.monitoring.baselines())
    ws.problems.create(
        "churn",
        {
            "target": "churn",
            # A score must rise, an error fall; == and the latency budget are not monitored.
            "criteria": ["recall >= 0.5", "test.log_loss <= 0.6", "accuracy == 0.8"],
            "latency": {"p99_ms": 20},
        },
    )
    ws.models.add_details(model, problem="churn:1")  # as a job that named the problem records
    monitor = ws.monitoring.create("quality", endpoint="churn", type="model-quality")
    assert monitor.config == {
        "thresholds": {"recall": 0.5, "log_loss": 0.6},
        "thresholds_from": "churn:1",
    }
    assert monitor.baseline_id is None  # no baseline needed for its thresholds
    assert len(ws.monitoring.baselines()) == baselines
    # The user's own thresholds win.
    own = ws.monitoring.create(
        "own", endpoint="churn", type="model-quality", thresholds={"accuracy": 0.7}
    )
    assert own.config == {"thresholds": {"accuracy": 0.7}}
