import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kiln.serving import create_app


@pytest.fixture(scope="module")
def client(trained):
    ws, _ = trained
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        yield client


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(3).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


def invoke(client, body, **kwargs):
    return client.post("/endpoints/churn/invocations", json=body, **kwargs)


def test_json_records_and_instances_give_one_prediction_per_row_in_order(client, rows, trained):
    ws, result = trained
    response = invoke(client, rows)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == result.model.ref
    assert len(body["predictions"]) == 3
    expected = ws.models.load(result.model.ref).predict_proba(pd.DataFrame(rows))
    for prediction, probabilities in zip(body["predictions"], expected, strict=True):
        assert set(prediction) == {"label", "probabilities"}
        assert prediction["probabilities"]["Yes"] == pytest.approx(probabilities[1], abs=1e-6)
        assert prediction["label"] == ("Yes" if probabilities[1] > 0.5 else "No")
    assert invoke(client, {"instances": rows}).json() == body


def test_csv_body(client, rows):
    csv = pd.DataFrame(rows).to_csv(index=False).encode()
    response = client.post(
        "/endpoints/churn/invocations", content=csv, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200
    assert response.json()["predictions"] == invoke(client, rows).json()["predictions"]


def test_unseen_category_is_answered_with_a_warning(client, rows):
    row = dict(rows[0], contract="Weekly")
    response = invoke(client, [row])
    assert response.status_code == 200
    assert (
        "'contract'" in response.json()["warnings"][0]
        and "Weekly" in response.json()["warnings"][0]
    )


def test_missing_values_are_imputed(client, rows):
    row = dict(rows[0], total_charges=None, contract=None)
    assert invoke(client, [row]).status_code == 200


@pytest.mark.parametrize(
    ("mutate", "status", "code", "field"),
    [
        (lambda r: [dict(r, tenur=1)], 422, "request.unknown-column", "tenur"),
        (
            lambda r: [{k: v for k, v in r.items() if k != "tenure"}],
            422,
            "request.missing-column",
            "tenure",
        ),
        (lambda r: [dict(r, tenure="ten")], 422, "request.wrong-type", "tenure"),
        (lambda r: [dict(r, tenure=True)], 422, "request.wrong-type", "tenure"),
        (lambda r: [dict(r, contract=12)], 422, "request.wrong-type", "contract"),
        (lambda r: [], 422, "request.empty", None),
        (lambda r: {"rows": [r]}, 422, "request.bad-body", "instances"),
        (lambda r: [[1, 2]], 422, "request.bad-row", None),
        (lambda r: "text", 422, "request.bad-body", None),
    ],
)
def test_bad_rows_get_a_4xx_naming_the_field(client, rows, mutate, status, code, field):
    response = invoke(client, mutate(rows[0]))
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert body.get("field") == field
    assert body["detail"]
    assert invoke(client, rows).status_code == 200  # still serving


def test_malformed_json_unknown_endpoint_media_type_and_size(client, rows, trained):
    bad = client.post(
        "/endpoints/churn/invocations", content=b"[{", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422 and bad.json()["error"] == "request.malformed-json"
    missing = client.post("/endpoints/nope/invocations", json=rows)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    xml = client.post(
        "/endpoints/churn/invocations", content=b"<x/>", headers={"content-type": "application/xml"}
    )
    assert xml.status_code == 415
    ws, _ = trained
    limit = ws.settings.max_request_bytes
    huge = client.post(
        "/endpoints/churn/invocations",
        content=b"[" + b" " * limit + b"]",
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["error"] == "request.too-large"
    empty = client.post(
        "/endpoints/churn/invocations", content=b"", headers={"content-type": "application/json"}
    )
    assert empty.status_code == 422
    assert invoke(client, rows).status_code == 200


def test_bad_csv_names_the_column(client, rows):
    frame = pd.DataFrame(rows)
    frame["tenure"] = "abc"
    response = client.post(
        "/endpoints/churn/invocations",
        content=frame.to_csv(index=False).encode(),
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 422 and response.json()["field"] == "tenure"


def test_ping_endpoints_and_openapi_document_the_response_shape(client):
    ping = client.get("/ping").json()
    assert ping["status"] == "ok" and "churn" in ping["endpoints"]
    assert "churn" in [e["name"] for e in client.get("/endpoints").json()]
    detail = client.get("/endpoints/churn").json()
    assert "contract" in detail["input_schema"]["properties"]
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"InvocationResponse", "ClassPrediction", "ValuePrediction", "ErrorResponse"} <= set(
        schemas
    )
    operation = spec["paths"]["/endpoints/{name}/invocations"]["post"]
    assert {"200", "404", "413", "422"} <= set(operation["responses"])
    assert "text/csv" in operation["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_regression_endpoint_answers_values(ws):
    from conftest import FIXTURES

    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    result = ws.train("housing", target="price", algorithm="linear")
    ws.endpoints.deploy(result.model.ref, endpoint="housing")
    row = ws.data.load("housing").drop(columns=["price"]).head(1).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        body = client.post("/endpoints/housing/invocations", json=row).json()
    assert set(body["predictions"][0]) == {"value"}
    assert 10_000 < body["predictions"][0]["value"] < 300_000
