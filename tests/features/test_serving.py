"""The feature store in ``kiln serve``'s app: online reads and record writes over HTTP behind
the API-key check, and an endpoint whose requests are filled from an online group by id."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from helpers import workspace_with_settings
from kiln.serving import create_app

INVOKE = "/endpoints/churn/invocations"


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    """A copy of ``trained`` with require_auth on, an online group 'customers' holding the churn
    test rows by customer_id, and the 'churn' endpoint enriched from it; an unscoped key."""
    source, result = trained
    ws = workspace_with_settings(
        source, tmp_path_factory.mktemp("served") / "ws", require_auth=True
    )
    rows = ws.data.load(result.job.result["splits"]["test"]).head(20).drop(columns=["churn"])
    rows = rows.reset_index(drop=True)
    table = rows.assign(customer_id=range(len(rows)), ts=pd.Timestamp("2026-01-01"))
    ws.features.create(
        "customers", record_id="customer_id", event_time="ts", source=table, online=True
    )
    ws.features.ingest("customers", table)
    ws.endpoints.set_features("churn", ["customers:*"])
    key = ws.keys.create().key
    scoped = ws.keys.create(endpoint="churn").key
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        yield client, rows, {"x-api-key": key}, {"x-api-key": scoped}
    ws.close()


def test_online_reads_over_http_need_an_unscoped_key_and_404_with_a_json_body(served):
    client, rows, key, scoped = served
    assert client.get("/features/customers/records/3").status_code == 401
    assert client.get("/features/customers/records/3", headers=scoped).status_code == 403
    got = client.get("/features/customers/records/3", headers=key)
    assert got.status_code == 200
    assert got.json()["tenure"] == rows.loc[3, "tenure"]
    unknown = client.get("/features/customers/records/999", headers=key)
    assert unknown.status_code == 404 and unknown.json()["error"] == "feature.unknown-record"
    assert "999" in unknown.json()["detail"]
    nogroup = client.get("/features/nope/records/1", headers=key)
    assert nogroup.status_code == 404 and nogroup.json()["error"] == "feature.unknown-group"


def test_records_are_written_one_by_one_over_http(served):
    client, rows, key, _ = served
    record = rows.loc[0].to_dict() | {"customer_id": 500, "ts": "2026-02-01T00:00:00Z"}
    record = {k: (None if pd.isna(v) else v) for k, v in record.items()}
    for method in ("put", "post"):
        written = client.request(method, "/features/customers/records", json=record, headers=key)
        assert written.status_code == 200, written.text
    assert (
        client.get("/features/customers/records/500", headers=key).json()["tenure"]
        == record["tenure"]
    )
    bad = client.put("/features/customers/records", json={"customer_id": 1}, headers=key)
    assert bad.status_code == 422 and bad.json()["field"] == "ts"


def test_an_endpoint_fills_each_row_by_record_id(served):
    client, rows, key, scoped = served
    full = rows.head(8).astype(object).where(rows.head(8).notna(), None).to_dict("records")
    direct = client.post(INVOKE, json=full, headers=scoped).json()["predictions"]
    assert len({str(p) for p in direct}) > 1  # rows the model tells apart
    by_id = client.post(INVOKE, json=[{"customer_id": i} for i in range(8)], headers=scoped)
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["predictions"] == direct
    # An unknown id: refused naming it, unless the row gives its features itself.
    unknown = client.post(INVOKE, json=[{"customer_id": 0}, {"customer_id": 404}], headers=key)
    assert unknown.status_code == 404 and unknown.json()["error"] == "feature.unknown-record"
    assert "404" in unknown.json()["detail"]
    own = client.post(INVOKE, json=[full[1] | {"customer_id": 404}], headers=key)
    assert own.status_code == 200 and own.json()["predictions"] == direct[1:2]
    assert client.post(INVOKE, json=[full[1]], headers=key).json()["predictions"] == direct[1:2]
    no_id = client.post(INVOKE, json=[{"tenure": 3}], headers=key)
    assert no_id.status_code == 422 and no_id.json()["error"] == "feature.missing-record-id"


def test_deploy_with_features_stores_them_and_refuses_unknown_ones(trained_copy):
    from kiln.errors import ConfigError, NotFound, StateError

    ws, result = trained_copy
    frame = pd.DataFrame({"customer_id": [1], "ts": [pd.Timestamp("2026-01-01")], "tenure": [3]})
    ws.features.create("usage", record_id="customer_id", event_time="ts", source=frame, online=True)
    ws.features.create("cold", record_id="customer_id", event_time="ts", source=frame)
    endpoint = ws.endpoints.deploy(
        result.model.ref, endpoint="enriched", allow_unapproved=True, features=["usage:tenure"]
    )
    assert endpoint.config["features"] == {
        "groups": [{"group": "usage", "record_id": "customer_id", "features": ["tenure"]}]
    }
    for features, error, code in [
        (["nope:tenure"], NotFound, "feature.unknown-group"),
        (["usage:nope"], ConfigError, "feature.unknown-feature"),
        (["cold:tenure"], StateError, "feature.not-online"),
        (["usage"], ConfigError, "feature.bad-feature"),
    ]:
        with pytest.raises(error) as caught:
            ws.endpoints.set_features("enriched", features)
        assert caught.value.code == code
    assert "features" not in ws.endpoints.set_features("enriched", None).config
