"""Monitors on an endpoint's captured traffic: data quality and drift, model quality with ground
truth, what a run records, and the bad input each refuses or reports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pandas as pd
import pytest

from kiln.data import capture_file_name
from kiln.errors import ConfigError
from kiln.monitoring import simulate_traffic
from kiln.store import now

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "retraining" / "retraining_loop.py"


def example():
    """examples/retraining/retraining_loop.py as a module: the tests run the example's code."""
    spec = importlib.util.spec_from_file_location("retraining_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_deploys_to_a_valid_endpoint_name():
    from kiln.refs import check_name

    check_name(example().ENDPOINT, what="endpoint")  # main() deployed to 'churn-api': refused


def replay(ws, rows: pd.DataFrame) -> None:
    example().replay(ws, "churn", rows.drop(columns=["churn"], errors="ignore"))


def test_a_monitor_needs_capture_on_its_endpoint(trained_copy):
    ws, _ = trained_copy
    with pytest.raises(ConfigError) as caught:
        ws.monitoring.create("m", endpoint="churn", type="data-quality")
    assert caught.value.code == "monitor.no-capture"
    assert "kiln endpoints capture churn --percent 100" in caught.value.message
    assert ws.monitoring.list() == []


def test_a_bad_schedule_is_refused_before_anything_is_stored(capturing):
    ws, _ = capturing
    with pytest.raises(ConfigError) as caught:
        ws.monitoring.create("m", endpoint="churn", type="data-quality", schedule="every tuesday")
    assert "every tuesday" in caught.value.message
    assert ws.monitoring.list() == [] and ws.monitoring.baselines() == []


def test_delete_removes_the_monitor_and_its_schedule(capturing):
    ws, _ = capturing
    ws.monitoring.create(
        "quality", endpoint="churn", type="model-quality", thresholds={"accuracy": 0.7}
    )
    assert "monitor:quality" in {s.name for s in ws.monitoring.schedules.list()}
    ws.monitoring.delete("quality")
    assert ws.monitoring.list() == []
    assert "monitor:quality" not in {s.name for s in ws.monitoring.schedules.list()}


def test_windows_and_offsets_read_days_as_the_docs_write_them(capturing):
    ws, _ = capturing
    monitor = ws.monitoring.create(
        "late-labels",
        endpoint="churn",
        type="model-quality",
        window="1d",
        offset="2d",
        thresholds={"accuracy": 0.7},
    )
    assert (monitor.window_seconds, monitor.offset_seconds) == (86400, 172800)


@pytest.mark.parametrize(
    ("thresholds", "words"),
    [({"accuracy": "abc"}, "Got 'abc'"), ({"acuracy": 0.8}, "'acuracy'")],
)
def test_bad_model_quality_thresholds_are_refused_at_create(capturing, thresholds, words):
    ws, _ = capturing
    with pytest.raises(ConfigError) as caught:
        ws.monitoring.create("mq", endpoint="churn", type="model-quality", thresholds=thresholds)
    assert caught.value.code == "monitor.bad-threshold" and words in caught.value.message
    assert ws.monitoring.list() == []


def test_a_monitor_whose_endpoint_was_deleted_says_so(capturing):
    ws, _ = capturing
    ws.monitoring.create("mq", endpoint="churn", type="model-quality", thresholds={"f1": 0.5})
    ws.endpoints.delete("churn")
    run = ws.monitoring.run("mq")
    assert run.status == "NoData"
    assert "endpoint 'churn' no longer exists" in run.summary["reason"]
    assert "kiln monitor delete mq" in run.summary["reason"]


def test_bad_bias_ranges_are_refused_at_create(capturing):
    ws, _ = capturing
    with pytest.raises(ConfigError) as caught:
        ws.monitoring.create(
            "fair", endpoint="churn", type="bias", facet="female", facet_value=1,
            label_value="Yes", thresholds={"DPPL": 0.05},
        )  # fmt: skip
    assert caught.value.code == "clarify.bad-threshold" and "[low, high]" in caught.value.message
    assert ws.monitoring.list() == []


def test_a_bias_monitor_on_a_column_the_model_is_not_sent_is_refused(capturing):
    ws, _ = capturing
    with pytest.raises(ConfigError) as caught:
        ws.monitoring.create(
            "fair", endpoint="churn", type="bias", facet="gender", facet_value="F",
            label_value="Yes",
        )  # fmt: skip
    assert caught.value.code == "clarify.unknown-column"
    assert "'gender'" in caught.value.message and "senior_citizen" in caught.value.message
    assert ws.monitoring.list() == []


def test_a_refused_monitor_leaves_no_baseline_behind(capturing):
    ws, _ = capturing
    knn = ws.train("churn", target="churn", algorithm="knn", name="churn_knn").model.ref
    ws.models.approve(knn, reason="test")
    ws.endpoints.deploy(knn, endpoint="knn")
    ws.endpoints.set_capture("knn", 100)
    with pytest.raises(ConfigError) as caught:
        ws.monitoring.create("why", endpoint="knn", type="attribution")  # k-NN: no SHAP
    assert caught.value.code == "monitor.no-attribution-baseline"
    assert ws.monitoring.list() == [] and ws.monitoring.baselines() == []


def test_drifted_traffic_raises_violations_and_same_traffic_none(capturing):
    ws, churn = capturing
    monitor = ws.monitoring.create("quality", endpoint="churn", type="data-quality")
    baseline = ws.monitoring.get_baseline(monitor.baseline_id)
    assert baseline.model == ws.endpoints.get("churn").model
    assert any(f["name"].startswith("predicted_") for f in baseline.statistics["features"])

    replay(ws, simulate_traffic(churn, rows=400, drift=0.0, seed=1))
    calm = ws.monitoring.run("quality")
    assert calm.status == "Completed" and calm.metrics["rows"] == 400
    assert calm.violations == [], calm.violations

    replay(ws, simulate_traffic(churn, rows=400, drift=1.0, exclude=("churn",), seed=2))
    stormy = ws.monitoring.run("quality")
    drifted = {d["column"] for d in stormy.summary["drift"] if d["drifted"]}
    assert {"tenure", "monthly_charges"} <= drifted
    assert stormy.metrics["drift.num_cols"] >= 3
    assert any(v["check"] == "baseline_drift_check" for v in stormy.violations)

    history = ws.monitoring.history("quality")
    assert [h["run"] for h in history] == [calm.id, stormy.id]
    report = ws.monitoring.report(stormy.id, out=ws.home / "r.html")
    assert report.stat().st_size < 1_000_000
    assert "tenure" in report.read_text()


def test_explained_invocations_are_checked_like_the_others(capturing):
    from fastapi.testclient import TestClient

    from kiln.serving import create_app

    ws, churn = capturing
    ws.monitoring.create("quality", endpoint="churn", type="data-quality")
    rows = simulate_traffic(churn, rows=60, seed=5).drop(columns=["churn"])
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        answer = client.post("/endpoints/churn/invocations?explain=true", json=records)
        assert answer.status_code == 200 and "attributions" in answer.json()["predictions"][0]
    run = ws.monitoring.run("quality")
    assert run.status == "Completed", run.failure_reason
    assert run.metrics["rows"] == 60
    assert not [v for v in run.violations if v["check"] == "extra_column_check"]


def test_corrupt_lines_are_skipped_and_counted_and_missing_columns_are_violations(capturing):
    """One run (each starts a job process): a window whose valid rows all lack 'tenure', beside
    a capture file with three corrupt lines."""
    ws, churn = capturing
    ws.monitoring.create("quality", endpoint="churn", type="data-quality")
    model = ws.models.load(ws.endpoints.get("churn").model)
    rows = simulate_traffic(churn, rows=50, seed=4).drop(columns=["churn"])
    outputs = model.predictions(rows)
    inputs = rows.drop(columns=["tenure"]).astype(object).to_dict("records")
    record = {
        "inference_id": "a" * 32,
        "timestamp": now().isoformat() + "Z",
        "variant": "primary",
        "model": ws.endpoints.get("churn").model,
        "input": inputs,
        "output": outputs,
    }
    ws.artifacts.append_named(
        capture_file_name("churn", now(), "handmade-1", "jsonl"), orjson.dumps(record) + b"\n"
    )
    name = capture_file_name("churn", now(), "damaged-1", "jsonl")
    ws.artifacts.append_named(name, b'{"inference_id": "x", "input": [\n[1, 2]\nnot json at all\n')
    run = ws.monitoring.run("quality")
    assert run.status == "Completed"
    assert run.summary["corrupt_lines"] == 3
    assert run.metrics["rows"] == 50
    missing = [v for v in run.violations if v["check"] == "missing_column_check"]
    assert [v["column"] for v in missing] == ["tenure"]


def test_model_quality_is_no_data_without_labels_then_joins_them(capturing):
    """Without ground truth a run has no data; with it, the run joins the labels and reports the
    ones the model never saw."""
    ws, churn = capturing
    ws.monitoring.create(
        "accuracy", endpoint="churn", type="model-quality", thresholds={"accuracy": 0.95}
    )
    sample = simulate_traffic(churn, rows=80, seed=5)
    replay(ws, sample)
    unlabelled = ws.monitoring.run("accuracy")
    assert unlabelled.status == "NoData" and unlabelled.violations == []
    assert "ground-truth" in unlabelled.summary["reason"]

    captured = ws.data.capture("churn")
    labels = sample["churn"].tolist()
    labels[:5] = ["Maybe"] * 5  # a class the model never saw
    ws.endpoints.ground_truth("churn", captured[["inference_id", "row"]].assign(label=labels))
    run = ws.monitoring.run("accuracy")
    assert run.status == "Completed"
    assert run.metrics["labelled_rows"] == 80
    assert 0.5 < run.metrics["accuracy"] < 0.95
    checks = {v["check"]: v for v in run.violations}
    assert checks["unknown_label_check"]["observed"] == 5
    assert checks["unknown_label_check"]["evidence"]["examples"] == ["Maybe"]
    assert checks["model_quality_check"]["column"] == "accuracy"


def test_compare_two_versions_without_an_endpoint(ws):
    from kiln.monitoring import simulate_traffic

    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "examples/churn/telco_churn.csv")
    ws.data.ingest(frame.iloc[:3000], name="first")
    ws.data.ingest(simulate_traffic(frame.iloc[3000:], rows=3000, seed=1), name="same")
    ws.data.ingest(
        simulate_traffic(frame.iloc[3000:], rows=3000, drift=1.0, exclude=("churn",), seed=1),
        name="moved",
    )
    assert ws.monitoring.compare("first", "same").violations == []
    moved = ws.monitoring.compare("first", "moved")
    assert moved.monitor is None and moved.inputs["current"] == "moved:1"
    assert {"tenure", "monthly_charges", "total_charges"} <= {
        d["column"] for d in moved.summary["drift"] if d["drifted"]
    }


def test_compare_with_a_models_baseline_scores_the_current_data(trained_copy):
    ws, _ = trained_copy
    baseline = ws.monitoring.baseline(None, model=ws.endpoints.get("churn").model)
    run = ws.monitoring.compare("churn", "churn", baseline=baseline.id)
    checks = {v["check"] for v in run.violations}
    assert not checks & {"missing_column_check", "extra_column_check"}, run.violations
    assert "predicted_label" in {d["column"] for d in run.summary["drift"]}


def test_constraints_are_edited_by_path_and_a_bad_path_changes_nothing(ws):
    ws.data.ingest(pd.DataFrame({"age": [20, 30, 40, 50] * 10}), name="people")
    baseline = ws.monitoring.baseline("people")
    edited = ws.monitoring.set_constraint(baseline.id, "age.completeness", 0.5)
    assert (
        next(f for f in edited.constraints["features"] if f["name"] == "age")["completeness"] == 0.5
    )
    with pytest.raises(ConfigError) as caught:
        ws.monitoring.set_constraint(baseline.id, "height.completeness", 0.5)
    assert caught.value.code == "monitor.bad-constraint-path" and "age" in caught.value.message
    assert ws.monitoring.get_baseline(baseline.id).constraints == edited.constraints


def test_bias_and_attribution_monitors_on_live_traffic(capturing):
    ws, churn = capturing
    ws.monitoring.create(
        "fairness",
        endpoint="churn",
        type="bias",
        facet="senior_citizen",
        facet_value=1,
        label_value="No",
    )
    attribution = ws.monitoring.create("importance", endpoint="churn", type="attribution")
    assert ws.monitoring.get_baseline(attribution.baseline_id).statistics["attribution"]
    sample = simulate_traffic(churn, rows=200, seed=8)
    replay(ws, sample)
    captured = ws.data.capture("churn")
    ws.endpoints.ground_truth(
        "churn", captured[["inference_id", "row"]].assign(label=sample["churn"].to_numpy())
    )
    fairness = ws.monitoring.run("fairness")
    assert fairness.status == "Completed", fairness.failure_reason
    assert "bias.DPPL" in fairness.metrics and fairness.metrics["labelled_rows"] == 200
    importance = ws.monitoring.run("importance")
    assert importance.status == "Completed", importance.failure_reason
    assert 0.9 <= importance.metrics["attribution.ndcg"] <= 1.0  # the same traffic, same ranking
    assert importance.violations == []
