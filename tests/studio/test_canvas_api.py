"""Canvas's API against a real Studio server: upload, target, AutoML with progress, deploy,
one-row predictions and batch scoring with its download; and each bad input's 4xx."""

from __future__ import annotations

import dataclasses
import io
import time

import pandas as pd
import pytest

from conftest import CHURN_CSV

CHURN_ROW = {
    "female": 1,
    "senior_citizen": 0,
    "partner": 1,
    "dependents": 0,
    "tenure": 2,
    "phone_service": 1,
    "multiple_lines": "No",
    "internet_service": "Fiber optic",
    "online_security": "No",
    "online_backup": "No",
    "device_protection": "No",
    "tech_support": "No",
    "streaming_tv": "Yes",
    "streaming_movies": "Yes",
    "contract": "Month-to-month",
    "paperless_billing": 1,
    "payment_method": "Electronic check",
    "monthly_charges": 95.5,
    "total_charges": 191.0,
}


@pytest.fixture
def lenient(ws):
    """``ws`` set not to require approval: scientists deploy (as kiln.toml's
    ``require_approval = false`` would)."""
    ws.settings = dataclasses.replace(ws.settings, require_approval=False)
    return ws


def upload(client, name: str, content: bytes, filename: str = "data.csv"):
    return client.post(
        "/uploads",
        params={"name": name, "filename": filename},
        content=content,
        headers={"content-type": "text/csv"},
    )


def wait_for(client, path: str, *, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["status"] in ("Completed", "Failed", "Stopped"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


def test_the_whole_canvas_flow_through_the_api(api_as, lenient, studio):
    scientist = api_as("scientist")
    uploaded = upload(scientist, "churn", CHURN_CSV.read_bytes(), "telco_churn.csv")
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["ref"] == "churn:1"
    assert uploaded.json()["row_count"] == 7043
    assert uploaded.json()["source"] == "file: telco_churn.csv"
    assert uploaded.json()["created_by"] == "scientist (studio)"

    listed = scientist.get("/canvas/datasets", params={"q": "chu"}).json()
    assert [d["ref"] for d in listed["items"]] == ["churn:1"]
    assert listed["total"] == 1

    checked = scientist.get("/canvas/datasets/churn:1/columns", params={"target": "churn"})
    assert checked.status_code == 200, checked.text
    facts = checked.json()
    assert facts["problem_type"] == "binary"
    assert {c["name"]: c["type"] for c in facts["columns"]}["contract"] == "categorical"
    assert [c["value"] for c in facts["target_summary"]["classes"]] == ["No", "Yes"]
    assert any(w["kind"] == "duplicate-rows" for w in facts["warnings"])

    started = time.monotonic()
    answer = scientist.post(
        "/canvas/automl", json={"data": "churn:1", "target": "churn", "time_limit": 10}
    )
    assert answer.status_code == 202, answer.text
    assert time.monotonic() - started < 5  # answered at once, not after the run
    job = answer.json()["job"]
    first = scientist.get(f"/canvas/automl/{job}").json()
    assert first["status"] in ("Pending", "InProgress")
    assert first["remaining_seconds"] > 0
    done = wait_for(scientist, f"/canvas/automl/{job}")
    assert done["status"] == "Completed", done
    assert done["trials"] >= 1 and done["best_score"] > 0.7
    result = done["result"]
    assert result["model"] == "churn:1" and result["metric"] == "roc_auc"
    assert result["leaderboard"][0]["algorithm"] == "ensemble"
    importance = result["explanation"]["permutation_importance"]
    assert {row["feature"] for row in importance} <= set(CHURN_ROW)

    deployed = scientist.post("/canvas/deploy", json={"model": "churn:1", "endpoint": "churn"})
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["model"] == "churn:1"

    form = scientist.get("/canvas/endpoints/churn/form").json()
    inputs = {c["name"]: c for c in form["inputs"]}
    assert set(inputs) == set(CHURN_ROW)
    assert inputs["contract"]["categories"] == ["Month-to-month", "One year", "Two year"]
    predicted = scientist.post("/canvas/endpoints/churn/predict", json={"records": [CHURN_ROW]})
    assert predicted.status_code == 200, predicted.text
    prediction = predicted.json()["predictions"][0]
    assert prediction["label"] in ("Yes", "No")
    assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-3)

    rows = pd.read_csv(CHURN_CSV, nrows=50).drop(columns=["churn"])
    scoring = scientist.post(
        "/canvas/scores",
        params={"model": "churn:1", "filename": "new customers.csv"},
        content=rows.to_csv(index=False).encode(),
    )
    assert scoring.status_code == 202, scoring.text
    scores_job = scoring.json()["job"]
    progress = wait_for(scientist, f"/canvas/scores/{scores_job}/progress")
    assert progress["status"] == "Completed" and progress["rows"] == 50
    download = api_as("viewer").get(f"/canvas/scores/{scores_job}")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    scored = pd.read_csv(io.BytesIO(download.content))
    assert len(scored) == 50
    assert list(scored.columns[: len(rows.columns)]) == list(rows.columns)
    assert "prediction" in scored.columns
    assert set(scored["prediction"]) <= {"Yes", "No"}

    actions = [e.action for e in lenient.audit.page(limit=10).items]
    assert actions[:4] == ["transform.start", "endpoint.deploy", "automl.start", "data.ingest"]


def test_uploads_past_the_limit_get_413_without_reading_the_rest(api_as, ws):
    ws.settings = dataclasses.replace(ws.settings, studio_max_upload_bytes=2048)
    scientist = api_as("scientist")
    answer = upload(scientist, "big", b"a,b\n" + b"1,2\n" * 2000)
    assert answer.status_code == 413
    assert answer.json()["error"] == "studio.upload-too-large"
    assert "2,048 bytes" in answer.json()["detail"]

    def chunks():  # no content-length: the limit is counted as the body streams in
        yield b"a,b\n"
        for _ in range(1000):
            yield b"1,2\n"

    streamed = scientist.post("/uploads", params={"name": "big"}, content=chunks())
    assert streamed.status_code == 413
    assert ws.data.page().total == 0


@pytest.mark.parametrize(
    ("content", "filename", "code", "words"),
    [
        (b"", "empty.csv", "data.empty", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(300), "photo.csv", "data.binary-file", "binary data"),
        (b"\n\n\n", "blank.csv", "data.bad-csv", "cannot infer number of columns"),
        (b"just one line of text\n", "notes.txt", "data.empty", "no data rows"),
        (b"PAR1 not really parquet", "table.parquet", "data.bad-parquet", "Parquet"),
    ],
)
def test_a_file_that_is_not_a_table_gets_422_with_the_readers_message(
    api_as, ws, content, filename, code, words
):
    answer = upload(api_as("scientist"), "bad", content, filename)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == code
    assert words in body["detail"]
    assert body["detail"].startswith(("Cannot read " + filename, filename))
    assert "/tmp" not in body["detail"] and "kiln-upload" not in body["detail"]
    assert ws.data.page().total == 0
    event = ws.audit.page(limit=1).items[0]
    assert (event.action, event.outcome) == ("data.ingest", "failed")


def test_a_bad_data_set_name_is_refused(api_as):
    answer = upload(api_as("scientist"), "no spaces please", b"a,b\n1,2\n")
    assert answer.status_code == 400
    assert answer.json()["error"] == "name.invalid"


def test_a_target_with_one_value_is_refused_before_any_job(api_as, ws):
    scientist = api_as("scientist")
    content = b"x,label\n" + b"".join(f"{i},same\n".encode() for i in range(40))
    assert upload(scientist, "flat", content).status_code == 201
    checked = scientist.get("/canvas/datasets/flat/columns", params={"target": "label"})
    assert checked.status_code == 400
    assert checked.json()["error"] == "automl.constant-target"
    assert "'same'" in checked.json()["detail"]
    started = scientist.post(
        "/canvas/automl", json={"data": "flat", "target": "label", "time_limit": 10}
    )
    assert started.status_code == 400
    assert started.json()["error"] == "automl.constant-target"
    assert ws.jobs.list() == []


def test_unknown_data_sets_columns_and_jobs_are_404(api_as):
    scientist = api_as("scientist")
    assert scientist.get("/canvas/datasets/ghost/columns").json()["error"] == (
        "data.unknown-dataset"
    )
    assert scientist.get("/canvas/datasets/ghost/columns").status_code == 404
    missing = scientist.post(
        "/canvas/automl", json={"data": "ghost", "target": "y", "time_limit": 10}
    )
    assert missing.status_code == 404
    assert scientist.get("/canvas/automl/automl-000000000000").status_code == 404
    assert scientist.get("/canvas/scores/transform-000000000000").status_code == 404
    assert scientist.get("/canvas/endpoints/ghost/form").status_code == 404


def test_an_unknown_target_column_is_named(api_as):
    scientist = api_as("scientist")
    assert upload(scientist, "small", b"a,b\n1,2\n3,4\n").status_code == 201
    answer = scientist.get("/canvas/datasets/small/columns", params={"target": "c"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "data.unknown-column"


def test_a_viewer_may_look_but_not_upload_start_deploy_or_score(api_as, ws):
    viewer = api_as("viewer")
    assert viewer.get("/canvas/datasets").status_code == 200
    for answer in (
        upload(viewer, "churn", b"a,b\n1,2\n"),
        viewer.post("/canvas/automl", json={"data": "x", "target": "y", "time_limit": 10}),
        viewer.post("/canvas/deploy", json={"model": "x:1", "endpoint": "e"}),
        viewer.post("/canvas/endpoints/e/predict", json={"records": [{}]}),
        viewer.post("/canvas/scores", params={"model": "x:1"}, content=b"a\n1\n"),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "studio.forbidden"
    assert ws.data.page().total == 0
    assert {e.outcome for e in ws.audit.page(limit=10).items} == {"refused"}


def test_nobody_signed_in_gets_401(studio):
    import httpx

    with httpx.Client(base_url=f"{studio.url}/api") as client:
        assert client.get("/canvas/datasets").status_code == 401
        assert client.post("/uploads", params={"name": "x"}, content=b"a\n1\n").status_code == 401


def test_deploying_where_approval_is_required(api_as, ws):
    """A scientist is told an approver must deploy (403); an approver deploying a version
    pending approval is told to approve it first (409), or deploys it unapproved on purpose."""
    ws.data.ingest(CHURN_CSV, name="churn")
    pending = ws.train("churn", target="churn", algorithm="linear").model.ref
    scientist, approver = api_as("scientist"), api_as("approver")
    body = {"model": pending, "endpoint": "canvas"}
    refused = scientist.post("/canvas/deploy", json=body)
    assert refused.status_code == 403
    assert refused.json()["role_needed"] == "approver"
    not_approved = approver.post("/canvas/deploy", json=body)
    assert not_approved.status_code == 409
    assert not_approved.json()["error"] == "registry.not-approved"
    made = approver.post("/canvas/deploy", json={**body, "allow_unapproved": True})
    assert made.status_code == 200, made.text
    assert made.json()["model"] == pending
    bad_row = approver.post(
        "/canvas/endpoints/canvas/predict", json={"records": [{**CHURN_ROW, "tenure": "soon"}]}
    )
    assert bad_row.status_code == 422
    assert bad_row.json()["error"] == "request.wrong-type"
    assert bad_row.json()["field"] == "tenure"
    many = {"records": [CHURN_ROW] * 1001}
    too_many = approver.post("/canvas/endpoints/canvas/predict", json=many)
    assert too_many.status_code == 422
    assert too_many.json()["error"] == "request.invalid"
