"""Ground truth by inference id: counts of known and unknown ids, latest upload wins, one
transaction, and the HTTP route."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kiln.errors import DataError
from kiln.serving import create_app


@pytest.fixture
def captured(trained_copy):
    """A private workspace whose 'churn' endpoint captured four single-row invocations; the
    inference ids answered and the rows sent."""
    ws, result = trained_copy
    ws.endpoints.set_capture("churn", 100)
    test = ws.data.load(result.job.result["splits"]["test"]).head(4)
    rows = test.drop(columns=["churn"]).astype(object).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        ids = [
            client.post("/endpoints/churn/invocations", json=[row]).json()["inference_id"]
            for row in rows
        ]
    return ws, ids, list(test["churn"])


def stored_labels(ws):
    return ws.data.ground_truth_labels("churn")


def test_known_and_unknown_ids_are_counted_and_all_stored(captured):
    ws, ids, truth = captured
    upload = pd.DataFrame(
        {"inference_id": [ids[0], ids[1], "f" * 32, ids[1]], "label": ["Yes", "No", "No", "Yes"]}
    )
    counts = ws.endpoints.ground_truth("churn", upload)
    assert counts == {
        "received": 4,
        "stored": 3,
        "unknown_ids": 1,
        "examples_of_unknown": ["f" * 32],
    }
    assert stored_labels(ws) == {ids[0]: "Yes", ids[1]: "Yes", "f" * 32: "No"}  # last row wins


def test_a_later_upload_replaces_the_label_and_joins_the_capture(captured, tmp_path):
    ws, ids, truth = captured
    ws.endpoints.ground_truth("churn", [{"inference_id": ids[0], "label": "No"}])
    path = tmp_path / "labels.jsonl"
    pd.DataFrame({"inference_id": ids, "churn": truth}).to_json(path, orient="records", lines=True)
    counts = ws.endpoints.ground_truth("churn", path)  # the target's name instead of "label"
    assert counts["stored"] == 4 and counts["unknown_ids"] == 0
    assert stored_labels(ws) == dict(zip(ids, truth, strict=True))
    joined = ws.data.capture("churn").set_index("inference_id")["label"]
    assert joined.to_dict() == dict(zip(ids, truth, strict=True))


def test_ids_that_look_like_numbers_stay_text_in_a_csv(captured, tmp_path):
    ws, _, _ = captured
    path = tmp_path / "labels.csv"
    path.write_text("inference_id,label\n0012,Yes\n1e5,No\n")
    assert ws.endpoints.ground_truth("churn", path)["examples_of_unknown"] == ["0012", "1e5"]
    assert set(stored_labels(ws)) == {"0012", "1e5"}


@pytest.mark.parametrize(
    ("upload", "code"),
    [
        (pd.DataFrame({"id": ["a"], "label": ["Yes"]}), "ground-truth.bad-columns"),
        (pd.DataFrame({"inference_id": ["a"], "score": [1]}), "ground-truth.bad-columns"),
        (
            pd.DataFrame({"inference_id": ["a", "b"], "label": ["Yes", None]}),
            "ground-truth.missing-value",
        ),
        (
            pd.DataFrame({"inference_id": ["a", " "], "label": ["Yes", "No"]}),
            "ground-truth.missing-value",
        ),
        ("no-such-file.csv", "ground-truth.bad-source"),
        (pd.DataFrame({"inference_id": ["a" * 65], "label": ["Yes"]}), "ground-truth.bad-id"),
    ],
)
def test_a_bad_upload_is_refused_and_stores_nothing(captured, upload, code):
    ws, _, _ = captured
    with pytest.raises(DataError) as error:
        ws.endpoints.ground_truth("churn", upload)
    assert error.value.code == code
    assert stored_labels(ws) == {}


def test_the_http_route_takes_a_json_list(captured):
    ws, ids, _ = captured
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        answer = client.post(
            "/endpoints/churn/ground-truth",
            json=[{"inference_id": ids[2], "label": "Yes"}, {"inference_id": "x", "label": "No"}],
        )
        assert answer.status_code == 200
        assert answer.json() == {
            "received": 2,
            "stored": 2,
            "unknown_ids": 1,
            "examples_of_unknown": ["x"],
        }
        unknown = client.post("/endpoints/nope/ground-truth", json=[])
        assert unknown.status_code == 404 and unknown.json()["error"] == "serving.unknown-endpoint"
        bad = client.post("/endpoints/churn/ground-truth", json=[{"label": "Yes"}])
        assert bad.status_code == 422 and bad.json()["error"] == "request.bad-body"
        assert "inference_id" in bad.json()["detail"]
        limit = ws.settings.max_request_bytes
        huge = b"[" + b'{"inference_id": "a", "label": 1},' * (limit // 30) + b"]"
        too_large = client.post(
            "/endpoints/churn/ground-truth",
            content=huge,
            headers={"content-type": "application/json"},
        )
        assert too_large.status_code == 413 and too_large.json()["error"] == "request.too-large"
    assert stored_labels(ws)[ids[2]] == "Yes"


def test_each_row_of_a_multi_row_request_gets_its_own_label_with_a_row_column(trained_copy):
    ws, result = trained_copy
    ws.endpoints.set_capture("churn", 100)
    rows = ws.data.load("churn").head(3).drop(columns=["churn"]).astype(object)
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        answer = client.post("/endpoints/churn/invocations", json=rows.to_dict("records"))
    inference_id = answer.json()["inference_id"]
    with pytest.raises(DataError) as caught:
        ws.endpoints.ground_truth(
            "churn", pd.DataFrame({"inference_id": [inference_id], "row": [-1], "label": ["No"]})
        )
    assert caught.value.code == "ground-truth.bad-row" and "-1" in caught.value.message
    ws.endpoints.ground_truth(
        "churn",
        pd.DataFrame(
            {"inference_id": [inference_id] * 3, "row": [0, 1, 2], "label": ["No", "Yes", "No"]}
        ),
    )
    captured = ws.data.capture("churn").sort_values("row")
    assert captured["label"].tolist() == ["No", "Yes", "No"]
