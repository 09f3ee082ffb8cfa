"""The capture read back: ``capture('E')`` in SQL, ``since``, and ingesting it for retraining."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kiln.errors import ConfigError, DataError, NotFound
from kiln.serving import create_app
from kiln.store import LineageRow


@pytest.fixture
def captured(trained_copy):
    """'churn' captured six single-row invocations; labels were uploaded for the first four."""
    ws, result = trained_copy
    ws.endpoints.set_capture("churn", 100)
    test = ws.data.load(result.job.result["splits"]["test"]).head(6)
    rows = test.drop(columns=["churn"]).astype(object).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        ids = [
            client.post("/endpoints/churn/invocations", json=[row]).json()["inference_id"]
            for row in rows
        ]
    truth = list(test["churn"])
    ws.endpoints.ground_truth(
        "churn", [{"inference_id": i, "label": t} for i, t in zip(ids[:4], truth, strict=False)]
    )
    return ws, ids, truth


def test_capture_is_a_table_in_sql_with_labels_joined(captured):
    ws, ids, truth = captured
    counts = ws.data.query("SELECT variant, count(*) AS n FROM capture('churn') GROUP BY 1")
    assert counts.to_dict("records") == [{"variant": "primary", "n": 6}]
    labelled = ws.data.query(
        "SELECT inference_id, label, predicted_label, tenure FROM capture('churn') "
        "WHERE label IS NOT NULL ORDER BY timestamp"
    )
    assert list(labelled["inference_id"]) == ids[:4]
    assert list(labelled["label"]) == truth[:4]
    # joined with a data set in the same query, with external access off (the sandbox)
    joined = ws.data.query(
        "SELECT count(*) AS n FROM capture('churn') c JOIN churn d ON c.tenure = d.tenure "
        "WHERE c.row = 0"
    )
    assert joined["n"][0] > 0


def test_since_keeps_what_was_captured_after_it(captured):
    ws, _, _ = captured
    assert len(ws.data.capture("churn", since="1h")) == 6
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert ws.data.capture("churn", since=later).empty
    assert len(ws.data.capture("churn", since=f"{datetime.now(UTC):%Y-%m-%d}")) == 6
    with pytest.raises(ConfigError) as error:
        ws.data.capture("churn", since="yesterday")
    assert error.value.code == "capture.bad-since" and "'yesterday'" in error.value.message


def test_the_capture_of_an_unknown_endpoint_is_not_found(captured):
    ws, _, _ = captured
    with pytest.raises(NotFound) as error:
        ws.data.query("SELECT * FROM capture('nope')")
    assert "'nope'" in error.value.message and "churn" in error.value.message


def test_ingest_capture_makes_a_labelled_version_with_lineage(captured):
    ws, _, truth = captured
    version = ws.endpoints.ingest_capture("churn", dataset="churn_feedback")
    assert version.ref == "churn_feedback:1" and version.row_count == 4
    frame = ws.data.load(version)
    assert list(frame["churn"]) == truth[:4]
    assert "tenure" in frame.columns
    assert not {"inference_id", "label", "predicted_label", "latency_ms"} & set(frame.columns)
    assert "capture of endpoint churn" in version.source
    endpoint = ws.endpoints.get("churn")
    with ws.store.read() as session:
        edge = session.scalars(select(LineageRow).where(LineageRow.target_id == version.id)).one()
    assert (edge.source_kind, edge.source_id, edge.relation) == (
        "endpoint",
        endpoint.id,
        "captured",
    )
    again = ws.endpoints.ingest_capture("churn", dataset="churn_feedback")
    assert again.id == version.id  # the same rows: the same version, and no second edge
    with ws.store.read() as session:
        assert (
            len(session.scalars(select(LineageRow).where(LineageRow.target_id == version.id)).all())
            == 1
        )
    everything = ws.endpoints.ingest_capture("churn", dataset="churn_all", unlabelled=True)
    assert everything.row_count == 6


def test_ingest_capture_without_labels_or_capture_is_refused(trained_copy):
    ws, result = trained_copy
    with pytest.raises(DataError) as error:
        ws.endpoints.ingest_capture("churn", dataset="x")
    assert error.value.code == "capture.empty"
    assert "kiln endpoints capture churn" in error.value.message
    ws.endpoints.set_capture("churn", 100)
    row = ws.data.load(result.job.result["splits"]["test"]).head(1).drop(columns=["churn"])
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        client.post("/endpoints/churn/invocations", json=row.astype(object).to_dict("records"))
    with pytest.raises(DataError) as error:
        ws.endpoints.ingest_capture("churn", dataset="x")
    assert error.value.code == "capture.no-labels" and "--unlabelled" in error.value.message
    assert [v.name for v in ws.data.list()].count("x") == 0


def test_capture_rows_flatten_predictions_and_keep_inputs_named_like_metadata():
    from kiln.data._capture import capture_rows

    record = {
        "inference_id": "a" * 32,
        "variant": "blue",
        "model": "m:1",
        "timestamp": "2026-12-05T08:00:00.000001Z",
        "latency_ms": 2.5,
        "input": [{"x": 1, "label": "given", "model": "input's own"}, {"x": 2}],
        "output": [
            {"label": "Yes", "probabilities": {"No": 0.25, "Yes": 0.75}},
            {"label": "No", "probabilities": {"No": 0.5, "Yes": 0.5}},
        ],
    }
    frame = capture_rows([record], {"a" * 32: "No"})
    first = frame.iloc[0].to_dict()
    assert first["input_label"] == "given" and first["input_model"] == "input's own"
    assert first["model"] == "m:1" and first["label"] == "No" and first["row"] == 0
    assert first["predicted_probabilities_Yes"] == 0.75 and first["predicted_label"] == "Yes"
    assert list(frame["x"]) == [1, 2] and list(frame["label"]) == ["No", "No"]


def test_an_endpoint_that_captured_nothing_is_an_empty_table(trained_copy):
    ws, _ = trained_copy
    assert ws.data.query("SELECT count(*) AS n FROM capture('churn')")["n"][0] == 0
