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


def test_an_unknown_series_is_named_against_the_held_count_and_a_nested_id_is_refused(model):
    with pytest.raises(RequestError, match="not among the 2 series the model") as caught:
        model.answer({"series": ["z|9"], "history": history_rows("2024-01-01", 20, store="c")})
    assert caught.value.http_status == 404
    with pytest.raises(RequestError, match="'store'.*\\{'a': 1\\}") as caught:
        model.answer({"series": [{"store": {"a": 1}, "item": 1}]})
    assert caught.value.code == "forecast.bad-series" and caught.value.http_status == 422


@pytest.mark.parametrize(
    ("value", "shown"), [(float("inf"), "inf"), ("abc", "'abc'"), (None, "empty")]
)
def test_history_values_that_are_not_finite_numbers_are_named(model, value, shown):
    rows = history_rows("2024-01-29", 3)
    rows[1]["sales"] = value
    with pytest.raises(RequestError, match=f"row 2 \\({shown}\\)") as caught:
        model.answer({"history": rows})
    assert caught.value.code == "forecast.bad-request-rows"


def test_a_covariate_value_that_is_not_a_number_is_named_not_called_missing():
    model = build(covariates=["promo"])
    rows = [
        {"store": "a", "item": 1, "date": str(d.date()), "promo": 1.0}
        for d in pd.date_range("2024-01-29", periods=7)
    ]
    rows[2]["promo"] = "yes"
    with pytest.raises(RequestError, match="'promo'.*row 3 \\('yes'\\)") as caught:
        model.answer({"series": ["a|1"], "covariates": rows})
    assert caught.value.code == "forecast.bad-request-rows"


def test_a_series_too_short_for_the_model_is_forecast_by_naive_and_said_so(model):
    answer, warnings = model.answer_with_warnings({"history": history_rows("2024-03-01", 5, "c")})
    assert [s["mean"] for s in answer[0]["forecast"]] == [14.0] * 7  # the last value, carried on
    assert len(warnings) == 1
    assert "'c|1' (5 values)" in warnings[0] and "the 7 values seasonal_naive" in warnings[0]
    assert model.answer_with_warnings({"series": ["a|1"]})[1] == []


def test_the_sdk_takes_numpy_horizons_and_series_as_any_list_like(model):
    table = model.forecast(pd.Series(["a|1", "b|1"]), horizon=np.int64(2))
    assert table["series"].tolist() == ["a|1", "a|1", "b|1", "b|1"]
    assert model.forecast(("a|1",), horizon=np.int32(1))["step"].tolist() == [1]


def test_a_csv_row_with_a_time_but_no_value_is_refused_when_it_cannot_be_a_covariate(model):
    frame = pd.DataFrame(
        {"store": ["a", "a"], "item": ["1", "1"], "date": ["2024-01-29", "2024-01-30"]}
        | {"sales": [None, "3"]}
    )
    with pytest.raises(RequestError, match="Row\\(s\\) 1 have a 'date' but no 'sales'") as caught:
        model.predictions(frame)
    assert caught.value.code == "forecast.bad-request-rows"


@pytest.mark.parametrize("call", ["predict", "predict_values", "predict_proba", "embed"])
def test_row_scoring_calls_are_refused_pointing_to_forecast(model, call):
    with pytest.raises(RequestError, match="forecast\\(series") as caught:
        getattr(model, call)(pd.DataFrame({"store": ["a"], "item": [1]}))
    assert caught.value.code == "forecast.unsupported"


@pytest.mark.parametrize(
    ("row", "field", "shown"),
    [
        ({"store": ["a", "b"]}, "store", "\\['a', 'b'\\]"),
        ({"store": {"a": 1}}, "store", "\\{'a': 1\\}"),
        ({"item": True}, "item", "True"),
        ({"sales": True}, "sales", "True"),
    ],
)
def test_history_ids_and_values_of_the_wrong_kind_are_refused_not_made_a_series(
    model, row, field, shown
):
    rows = history_rows("2024-01-29", 2)
    rows[1] |= row
    with pytest.raises(RequestError, match=f"row 2 \\({shown}\\)") as caught:
        model.answer({"history": rows})
    assert caught.value.code == "forecast.bad-request-rows" and caught.value.field == field


def test_rows_without_the_id_columns_are_told_which_columns_they_have(model):
    with pytest.raises(RequestError, match="these rows have \\['store;item'\\]"):
        model.predictions(pd.DataFrame({"store;item": ["a;1"]}))


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_history_time_outside_what_timestamps_hold_is_a_bad_timestamp(model, day):
    with pytest.raises(DataError, match=f"outside the years.*{day[:4]}") as caught:
        model.answer({"history": [{"store": "a", "item": 1, "date": day, "sales": 1.0}]})
    assert caught.value.code == "timeseries.bad-timestamp"


def test_a_gap_in_the_history_says_where_the_held_series_ends_not_how_to_train(model):
    with pytest.raises(DataError, match="'a\\|1' ends 2024-01-28") as caught:
        model.answer({"history": history_rows("2024-02-10", 3)})
    assert caught.value.code == "timeseries.gaps" and "--fill" not in str(caught.value)
