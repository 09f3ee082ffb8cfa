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
    again = invoke(client, {"instances": rows}).json()
    assert again.pop("inference_id") != body.pop("inference_id")  # one id per invocation
    assert again == body


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


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_their_scripts_and_styles_from_the_server(client, page):
    import re

    html = client.get(page).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith(".js") for a in assets), html
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere: blank offline"
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset
    assert "/openapi.json" in html


def test_regression_endpoint_answers_values(housing):
    client, row = housing  # the module's linear model of house prices, on endpoint 'housing'
    body = client.post("/endpoints/housing/invocations", json=row).json()
    assert set(body["predictions"][0]) == {"value"}
    assert 10_000 < body["predictions"][0]["value"] < 300_000


# -- issue 19: request reliability -------------------------------------------------------------
def post(client, content: bytes, content_type: str = "application/json", name: str = "churn"):
    return client.post(
        f"/endpoints/{name}/invocations", content=content, headers={"content-type": content_type}
    )


def assert_documented_4xx(response, code: str | None = None, field: str | None = None) -> dict:
    from test_errors import _documented_codes

    assert 400 <= response.status_code < 500, response.text[:500]
    body = response.json()
    assert body["error"] in _documented_codes()
    if code is not None:
        assert body["error"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    """A regression model with a date column (stored as date32), served."""
    import kiln

    ws = kiln.Workspace.init(tmp_path_factory.mktemp("dated") / "ws")
    days = pd.date_range("2023-01-01", periods=120, freq="D")
    frame = pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),
            "x": range(120),
            "y": [i * 0.37 + d.month for i, d in enumerate(days)],
        }
    )
    csv = tmp_path_factory.mktemp("dated_data") / "dated.csv"
    frame.to_csv(csv, index=False)
    ws.data.ingest(csv, name="dated")
    result = ws.train("dated", target="y", algorithm="linear")
    ws.endpoints.deploy(result.model.ref, endpoint="dated", allow_unapproved=True)
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        yield client, result.model, ws
    ws.close()


def test_a_date_column_is_signed_as_a_date_and_served(dated, tmp_path):
    client, model, ws = dated
    spec = {c["name"]: c for c in model.signature["inputs"]}["day"]
    assert (spec["type"], spec["dtype"]) == ("datetime", "date")
    assert (
        client.get("/endpoints/dated").json()["input_schema"]["properties"]["day"]["format"]
        == "date"
    )
    good = post(client, b'[{"day": "2023-02-03", "x": 5}, {"day": null, "x": 5}]', name="dated")
    assert good.status_code == 200, good.text
    by_csv = post(client, b"day,x\n2023-02-03,5\n,5\n", "text/csv", name="dated")
    assert by_csv.json()["predictions"] == good.json()["predictions"]
    (tmp_path / "in.csv").write_bytes(b"day,x\n2023-02-03,5\n,5\n")
    ws.transform(model.ref, input=tmp_path / "in.csv", output=tmp_path / "out.csv")
    scored = pd.read_csv(tmp_path / "out.csv")["prediction"].tolist()
    assert scored == pytest.approx([p["value"] for p in good.json()["predictions"]])


@pytest.mark.parametrize("value", ["not a date", "", "2023-99-99", "10000-01-01"])
def test_an_invalid_date_is_a_wrong_type_not_a_missing_value(dated, value):
    client, _, _ = dated
    body = orjson_dumps([{"day": "2023-02-03", "x": 1}, {"day": value, "x": 1}])
    found = assert_documented_4xx(post(client, body, name="dated"), "request.wrong-type", "day")
    assert "row 1" in found["detail"]
    if value:  # an empty CSV field is a missing value
        csv = f"day,x\n2023-02-03,1\n{value},1\n".encode()
        found = assert_documented_4xx(
            post(client, csv, "text/csv", name="dated"), "request.wrong-type", "day"
        )
        assert "row 1" in found["detail"]


def orjson_dumps(value) -> bytes:
    import orjson

    return orjson.dumps(value)


@pytest.fixture(scope="module")
def housing(tmp_path_factory):
    import kiln
    from conftest import FIXTURES

    ws = kiln.Workspace.init(tmp_path_factory.mktemp("housing") / "ws")
    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    result = ws.train("housing", target="price", algorithm="linear")
    ws.endpoints.deploy(result.model.ref, endpoint="housing", allow_unapproved=True)
    row = ws.data.load("housing").drop(columns=["price"]).head(1).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        yield client, row
    ws.close()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("rows", [1, 100])  # the compiled recipe, and the pipeline
def test_a_prediction_that_overflows_is_a_422_naming_the_row(housing, rows):
    client, row = housing
    body = [row[0]] * rows
    body[-1] = dict(row[0], lotsize=1e308)
    found = assert_documented_4xx(
        post(client, orjson_dumps(body), name="housing"), "request.non-finite-prediction"
    )
    assert f"row {rows - 1}" in found["detail"]
    csv = pd.DataFrame(body).to_csv(index=False).encode()
    found = assert_documented_4xx(
        post(client, csv, "text/csv", name="housing"), "request.non-finite-prediction"
    )
    assert f"row {rows - 1}" in found["detail"]


def test_infinite_inputs_are_refused(housing):
    client, row = housing
    for text in (b"1e400", b"NaN", b"Infinity"):
        body = orjson_dumps(row).replace(b'"lotsize":5850', b'"lotsize":' + text)
        assert_documented_4xx(post(client, body, name="housing"), "request.malformed-json")
    csv = pd.DataFrame([dict(row[0], lotsize="inf")]).to_csv(index=False).encode()
    assert_documented_4xx(
        post(client, csv, "text/csv", name="housing"), "request.wrong-type", "lotsize"
    )


def test_duplicate_keys_and_columns_are_refused(client, rows):
    one = orjson_dumps(rows[0])
    twice = one[:-1] + b',"tenure":72}'
    for body in (b"[" + one + b"," + twice + b"]", b'{"instances":[' + one + b"," + twice + b"]}"):
        found = assert_documented_4xx(post(client, body), "request.duplicate-column", "tenure")
        assert "Row 1" in found["detail"]
    csv = pd.DataFrame(rows).to_csv(index=False)
    header, rest = csv.split("\n", 1)
    doubled = header + ",tenure\n" + "\n".join(line + ",72" for line in rest.splitlines()) + "\n"
    assert_documented_4xx(
        post(client, doubled.encode(), "text/csv"), "request.duplicate-column", "tenure"
    )


@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_csv_with_other_line_endings_is_read(client, rows, newline):
    csv = pd.DataFrame(rows).to_csv(index=False, lineterminator=newline).encode()
    response = post(client, csv, "text/csv")
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == invoke(client, rows).json()["predictions"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda csv: csv.replace(b"female", b"fem\xffale", 1),  # a header that is not UTF-8
        lambda csv: csv.replace(b"Month-to-month", b"Month\xff", 1),  # a value that is not
        lambda csv: b"\xef\xbb\xbf" + csv,  # a byte order mark (answered)
        lambda csv: csv.replace(b"female", b'"fe\nmale"', 1),  # a quoted newline in the header
        lambda csv: csv.replace(b"female,", b"female,,", 1),  # an empty header field
        lambda csv: csv.split(b"\n", 1)[0],  # a header only
        lambda csv: csv.split(b"\n", 1)[0] + b"\n",
        lambda csv: csv + b"1,2,3\n",  # a short row
        lambda csv: csv + b'1,"2\n',  # an unclosed quote
        lambda csv: b"\n\n" + csv,  # blank lines first
        lambda csv: csv.replace(b",", b";"),  # another delimiter
    ],
)
def test_odd_csv_bodies_are_answered_or_get_a_4xx(client, rows, mangle):
    csv = pd.DataFrame(rows).to_csv(index=False).encode()
    response = post(client, mangle(csv), "text/csv")
    if response.status_code != 200:
        assert_documented_4xx(response)


@pytest.mark.parametrize("depth", [990, 1_000, 1_023])
def test_deeply_nested_json_is_a_4xx_with_a_short_detail(client, rows, depth):
    nested = b"[" * depth + b"]" * depth
    for body in (
        b"[" + nested + b"]",
        b'{"instances": [' + nested + b"]}",
        orjson_dumps([rows[0]]).replace(b'"tenure":', b'"tenure":' + nested + b',"x":', 1),
        orjson_dumps([rows[0]]).replace(b'"contract":', b'"contract":' + nested + b',"y":', 1),
    ):
        response = post(client, body)
        assert_documented_4xx(response)
        assert len(response.content) < 1_000


def test_error_bodies_echo_values_truncated(client, rows):
    huge = "k" * 9_000_000
    for body in (
        [dict(rows[0], **{huge: 1})],  # an unknown key
        [dict(rows[0], tenure=huge)],  # a wrong type
        [huge],  # a row that is not an object
        {huge: 1},  # an object without instances
    ):
        response = post(client, orjson_dumps(body))
        found = assert_documented_4xx(response)
        assert len(response.content) < 2_000, found["error"]
        assert len(found.get("field") or "") <= 100
    csv = pd.DataFrame([dict(rows[0], **{huge: 1})]).to_csv(index=False).encode()
    response = post(client, csv, "text/csv")
    assert_documented_4xx(response)
    assert len(response.content) < 2_000
    answered = invoke(client, [dict(rows[0], contract=huge)])  # an unseen category: a warning
    assert answered.status_code == 200 and len(answered.content) < 2_000


@pytest.mark.parametrize("rows", [1, 100])  # the compiled recipe, and the pipeline
def test_a_boolean_column_takes_json_booleans_and_warns_on_an_unknown_value(housing, rows):
    client, row = housing
    spelled = dict(row[0], airco="yes", prefarea="no")
    as_json = dict(row[0], airco=True, prefarea=False)
    expected = post(client, orjson_dumps([spelled] * rows), name="housing").json()
    answer = post(client, orjson_dumps([as_json] * rows), name="housing")
    assert answer.status_code == 200
    assert answer.json()["predictions"] == expected["predictions"]
    assert not answer.json().get("warnings")
    unknown = post(client, orjson_dumps([dict(row[0], airco="maybe")] * rows), name="housing")
    assert unknown.status_code == 200
    assert "'airco'" in unknown.json()["warnings"][0] and "maybe" in unknown.json()["warnings"][0]
