"""Forecasting models behind an endpoint: JSON and CSV requests, cold-start series, future
covariates, errors (never a 500), the endpoint's description, capture, metrics and variants."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast_workspace import HORIZON, SERIES, forecast_workspace, new_series_history
from helpers import wait_for
from kiln.data import capture_records
from kiln.serving import create_app


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``sales`` served by 'fc' (capturing everything, ``promo`` as its shadow), ``promo`` by
    'promo', both by the multi-model endpoint 'many', ``sales`` by the serverless 'idle'."""
    workspace, sales, promo = forecast_workspace(tmp_path_factory)
    workspace.endpoints.deploy(sales, endpoint="fc")
    workspace.endpoints.deploy(promo, endpoint="fc", shadow=True, variant="candidate")
    workspace.endpoints.set_capture("fc", 100)
    workspace.endpoints.deploy(promo, endpoint="promo")
    workspace.endpoints.deploy(endpoint="many", multi_model=True, groups=["sales", "promo"])
    workspace.endpoints.deploy(sales, endpoint="idle", serverless=True)
    with TestClient(create_app(workspace), base_url="http://localhost") as client:
        yield workspace, client, sales, promo
    workspace.close()


def forecast(client, body, endpoint="fc", **kwargs):
    return client.post(f"/endpoints/{endpoint}/invocations", json=body, **kwargs)


def test_series_ids_are_answered_with_forecasts_and_quantiles_per_step(served):
    workspace, client, sales, _ = served
    response = forecast(client, {"series": ["s1", {"store": "s2"}], "horizon": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == sales and body["variant"] == "primary" and body["inference_id"]
    assert [p["series"] for p in body["predictions"]] == ["s1", "s2"]
    first = body["predictions"][0]
    assert first["id"] == {"store": "s1"}
    assert [s["step"] for s in first["forecast"]] == [1, 2, 3]
    assert first["forecast"][0]["timestamp"] == "2024-02-05T00:00:00"
    assert set(first["forecast"][0]["quantiles"]) == {"0.1", "0.5", "0.9"}
    expected = workspace.models.load(sales).answer({"series": ["s1"], "horizon": 3})
    assert first == expected[0]
    everything = forecast(client, {}).json()["predictions"]
    assert [p["series"] for p in everything] == SERIES
    assert all(len(p["forecast"]) == HORIZON for p in everything)


def test_a_csv_body_of_ids_or_history_rows(served):
    _, client, _, _ = served
    ids = client.post(
        "/endpoints/fc/invocations", content=b"store\ns1\n", headers={"content-type": "text/csv"}
    )
    assert ids.status_code == 200, ids.text
    assert ids.json()["predictions"] == forecast(client, {"series": ["s1"]}).json()["predictions"]
    history = pd.DataFrame(new_series_history("csv1")).drop(columns=["price"])
    cold = client.post(
        "/endpoints/fc/invocations",
        content=history.to_csv(index=False).encode(),
        headers={"content-type": "text/csv"},
    )
    assert cold.status_code == 200, cold.text
    assert [p["series"] for p in cold.json()["predictions"]] == ["csv1"]


def test_an_unknown_series_is_a_404_naming_it_unless_its_history_is_sent(served):
    _, client, _, _ = served
    unknown = forecast(client, {"series": ["s1", "nope"]})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "forecast.unknown-series"
    assert "'nope'" in unknown.json()["detail"]
    history = [{k: v for k, v in r.items() if k != "price"} for r in new_series_history("n1")]
    cold = forecast(client, {"series": ["n1"], "history": history, "horizon": 2})
    assert cold.status_code == 200, cold.text
    (answer,) = cold.json()["predictions"]
    assert answer["id"] == {"store": "n1"}
    # 21 days from 2024-01-01: the forecast starts the day after the last one sent
    assert [s["timestamp"][:10] for s in answer["forecast"]] == ["2024-01-22", "2024-01-23"]


def test_future_covariates_come_from_the_request_and_missing_ones_are_named(served):
    _, client, _, _ = served
    history = new_series_history("n2")
    missing = forecast(client, {"series": ["n2"], "history": history, "horizon": 2}, "promo")
    assert missing.status_code == 422
    assert missing.json()["error"] == "forecast.missing-covariates"
    assert "'price'" in missing.json()["detail"] and "step 2" in missing.json()["detail"]
    covariates = [
        {"store": "n2", "date": day, "price": 1.25} for day in ("2024-01-22", "2024-01-23")
    ]
    given = forecast(
        client,
        {"series": ["n2"], "history": history, "covariates": covariates, "horizon": 2},
        "promo",
    )
    assert given.status_code == 200, given.text
    assert len(given.json()["predictions"][0]["forecast"]) == 2
    held = forecast(client, {"series": ["s0"]}, "promo")  # the data's future rows
    assert held.status_code == 200, held.text


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"horizon": 0}, 422, "forecast.bad-horizon"),
        ({"horizon": HORIZON + 1}, 422, "forecast.bad-horizon"),
        ({"horizon": "7"}, 422, "forecast.bad-horizon"),
        ([{"store": "s1"}], 422, "forecast.bad-request"),
        ({"series": ["s1"], "horizn": 2}, 422, "forecast.bad-request"),
        ({"history": "rows"}, 422, "forecast.bad-request"),
        ({"series": [None]}, 422, "forecast.bad-series"),
        ({"series": [{"shop": "s1"}]}, 422, "forecast.bad-series"),
        ({"history": [{"store": "x", "date": "2024-01-01"}]}, 422, "forecast.bad-request-rows"),
        ({"history": [{"store": "x", "date": "soon", "sales": 1}]}, 422, "timeseries."),
    ],
)
def test_bad_requests_are_4xx_with_a_code(served, body, status, code):
    _, client, _, _ = served
    response = forecast(client, body)
    assert response.status_code == status, response.text
    assert response.json()["error"].startswith(code)


def test_malformed_bodies_are_refused(served):
    _, client, _, _ = served
    bad_json = client.post(
        "/endpoints/fc/invocations",
        content=b'{"series": [',
        headers={"content-type": "application/json"},
    )
    assert bad_json.status_code == 422 and bad_json.json()["error"] == "request.malformed-json"
    no_ids = client.post(
        "/endpoints/fc/invocations", content=b"shop\ns1\n", headers={"content-type": "text/csv"}
    )
    assert no_ids.status_code == 422 and no_ids.json()["error"] == "forecast.bad-request-rows"


def test_explain_is_refused_clearly(served):
    _, client, _, _ = served
    response = forecast(client, {"series": ["s1"]}, params={"explain": "true"})
    assert response.status_code == 400
    assert response.json()["error"] == "forecast.unsupported"


def test_the_endpoint_shows_its_forecasting_schema(served):
    _, client, _, _ = served
    shown = client.get("/endpoints/fc").json()
    assert shown["forecasting"] == {
        "id_columns": ["store"],
        "timestamp": "date",
        "target": "sales",
        "horizon": HORIZON,
        "quantiles": [0.1, 0.5, 0.9],
        "frequency": "D",
        "covariates": [],
        "series_count": 3,
    }
    assert set(shown["input_schema"]["properties"]) == {
        "series",
        "history",
        "covariates",
        "horizon",
    }


def test_requests_are_captured_counted_and_copied_to_the_shadow(served):
    workspace, client, sales, promo = served
    answered = forecast(client, {"series": ["s0"], "horizon": 2}).json()

    def captured():
        records = capture_records(workspace.artifacts, "fc")
        return [r for r in records if r["inference_id"] == answered["inference_id"]]

    (record,) = wait_for(captured, timeout=30, what="the captured forecast")
    assert record["input"] == [{"series": ["s0"], "horizon": 2}]
    assert record["output"] == answered["predictions"]
    assert record["model"] == sales
    metrics = client.get("/metrics").text
    assert 'kiln_invocations_total{endpoint="fc"' in metrics
    wait_for(
        lambda: 'variant="candidate"' in client.get("/metrics").text,
        timeout=30,
        what="the shadow's comparison",
    )
    assert f'model="{promo}"' in client.get("/metrics").text


def test_two_forecasters_as_live_variants_answer_by_weight_or_header(served):
    workspace, client, sales, promo = served
    workspace.endpoints.deploy(promo, endpoint="split", variant="a", weight=1)
    workspace.endpoints.deploy(sales, endpoint="split", variant="b", weight=1)
    wait_for(
        lambda: (
            client.get("/endpoints/split").status_code == 200
            and len(client.get("/endpoints/split").json()["variants"]) == 2
        ),
        timeout=30,
        what="the split endpoint",
    )
    response = forecast(client, {"series": ["s1"]}, "split", headers={"x-kiln-target-variant": "b"})
    assert response.status_code == 200 and response.json()["model"] == sales


def test_asynchronous_forecasts_match_the_real_time_ones(served):
    _, client, _, _ = served
    body = {"series": ["s1", "s2"], "horizon": 2}
    accepted = client.post("/endpoints/fc/async-invocations", json=body)
    assert accepted.status_code == 202, accepted.text
    inference_id = accepted.json()["id"]

    def finished():
        status = client.get(f"/async-invocations/{inference_id}").json()
        return status if status["status"] in ("Completed", "Failed") else None

    status = wait_for(finished, timeout=60, what="the asynchronous forecast")
    assert status["status"] == "Completed", status
    lines = client.get(f"/async-invocations/{inference_id}/result").content.splitlines()
    assert [orjson.loads(line) for line in lines] == forecast(client, body).json()["predictions"]


def test_multi_model_and_serverless_endpoints_forecast(served):
    _, client, sales, promo = served
    body = {"series": ["s0"], "horizon": 1}
    named = client.post(f"/endpoints/many/models/{promo.replace(':', '/')}/invocations", json=body)
    assert named.status_code == 200, named.text
    assert named.json()["model"] == promo
    assert "series_count" not in client.get("/endpoints/idle").json()["forecasting"]  # cold
    warmed = forecast(client, body, "idle")
    assert warmed.status_code == 200 and warmed.json()["model"] == sales
    assert client.get("/endpoints/idle").json()["forecasting"]["series_count"] == 3
