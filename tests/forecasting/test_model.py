"""ForecastModel: forecasts from held history, fresh history, future covariates; its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kiln.errors import DataError, RequestError
from kiln.forecasting import ForecastModel, ForecastSpec, get_forecaster, prepare_panel
from kiln.registry import TrainedModel


def build(covariates=()):
    t = np.arange(28)
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "store": store,
                    "item": 1,
                    "date": pd.date_range("2024-01-01", periods=28, freq="D"),
                    "sales": base + (t % 7),
                    "promo": 0.0,
                }
            )
            for store, base in (("a", 10.0), ("b", 20.0))
        ]
    )
    spec = ForecastSpec(
        target="sales",
        timestamp="date",
        id_columns=["store", "item"],
        horizon=7,
        covariates=list(covariates),
    ).check()
    panel, future, _ = prepare_panel(frame, spec)
    forecaster = get_forecaster(
        "seasonal_naive", horizon=7, quantiles=spec.quantiles, season_length=7
    ).fit(panel)
    ids = {"a|1": {"store": "a", "item": 1}, "b|1": {"store": "b", "item": 1}}
    model = ForecastModel(forecaster, spec=spec, panel=panel, future_covariates=future, ids=ids)
    model.cache_default_forecast()
    return model


@pytest.fixture(scope="module")
def model():
    return TrainedModel.from_bytes(build().to_bytes())  # as the registry stores it


def test_held_series_are_forecast_by_key_or_by_their_ids(model):
    answer = model.answer({"series": ["b|1", {"store": "a", "item": 1}], "horizon": 3})
    assert [a["series"] for a in answer] == ["b|1", "a|1"]
    assert answer[0]["id"] == {"store": "b", "item": 1}
    steps = answer[0]["forecast"]
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert steps[0]["timestamp"] == "2024-01-29T00:00:00"
    assert steps[0]["mean"] == 20.0  # Monday again: the value a season before
    assert set(steps[0]["quantiles"]) == {"0.1", "0.5", "0.9"}
    table = model.prediction_table()
    assert len(table) == 14 and list(table.columns[:4]) == ["series", "store", "item", "date"]


def test_fresh_history_replaces_the_held_values_and_starts_new_series(model):
    history = [
        {"store": "c", "item": 1, "date": str(d.date()), "sales": 100.0 + k % 7}
        for k, d in enumerate(pd.date_range("2024-02-01", periods=14))
    ]
    answer = model.answer({"history": history, "horizon": 2})
    assert [a["series"] for a in answer] == ["c|1"]
    assert answer[0]["forecast"][0]["mean"] == 100.0
    assert answer[0]["forecast"][0]["timestamp"] == "2024-02-15T00:00:00"


@pytest.mark.parametrize(
    ("request_body", "code", "status"),
    [
        ({"series": ["z|9"]}, "forecast.unknown-series", 404),
        ({"series": ["a|1"], "horizon": 8}, "forecast.bad-horizon", 422),
        ({"series": ["a|1"], "horizon": 0}, "forecast.bad-horizon", 422),
        ({"series": [{"store": "a"}]}, "forecast.bad-series", 422),
        ({"series": ["a|1"], "extra": 1}, "forecast.bad-request", 422),
        ({"history": [{"store": "a", "item": 1, "sales": 1.0}]}, "forecast.bad-request-rows", 422),
        ([1, 2], "forecast.bad-request", 422),
    ],
)
def test_bad_requests_get_their_code(model, request_body, code, status):
    with pytest.raises(RequestError) as caught:
        model.answer(request_body)
    assert caught.value.code == code and caught.value.http_status == status


def test_future_covariates_come_from_the_request_and_are_named_when_missing():
    model = build(covariates=["promo"])
    with pytest.raises(DataError, match="'promo'.*series 'a\\|1' step 1") as caught:
        model.answer({"series": ["a|1"]})
    assert caught.value.code == "forecast.missing-covariates"
    rows = [
        {"store": "a", "item": 1, "date": str(d.date()), "promo": 1.0}
        for d in pd.date_range("2024-01-29", periods=7)
    ]
    answer = model.answer({"series": ["a|1"], "covariates": rows})
    assert len(answer[0]["forecast"]) == 7


def history_rows(start, days, store="a"):
    return [
        {"store": store, "item": 1, "date": str(d.date()), "sales": 10.0 + k % 7}
        for k, d in enumerate(pd.date_range(start, periods=days))
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"series": [["a|1"]]}, "forecast.bad-series"),
        ({"series": []}, "forecast.bad-series"),
        ({"history": history_rows("2024-01-29", 3) * 2}, "timeseries.duplicate-timestamps"),
        ({"history": history_rows("2024-02-10", 3)}, "timeseries.gaps"),  # held data ends 01-28
        (
            {"history": [{"store": "a", "item": 1, "date": "2024-01-29 06:00", "sales": 1.0}]},
            "timeseries.irregular",
        ),
    ],
)
def test_bad_series_and_history_are_refused(model, body, code):
    with pytest.raises(DataError) as caught:
        model.answer(body)
    assert caught.value.code == code and caught.value.http_status in (404, 422)


def test_history_that_continues_a_held_series_extends_it(model):
    answer = model.answer({"history": history_rows("2024-01-29", 7), "horizon": 1})
    assert answer[0]["forecast"][0]["timestamp"] == "2024-02-05T00:00:00"
