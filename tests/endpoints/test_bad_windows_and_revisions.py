"""Look-back windows and revision numbers that no endpoint can have: a ConfigError or NotFound
naming the value (Studio answers 400/404), not a datetime or database overflow (a 500)."""

from __future__ import annotations

import math

import pytest

from kiln.errors import ConfigError, NotFound


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -1.0, 0.0, 1e300])
def test_a_window_that_is_no_finite_positive_number_is_refused(trained, seconds):
    ws, _ = trained
    for read in (ws.endpoints.compare, ws.endpoints.metrics, ws.endpoints.shadow_report_html):
        with pytest.raises(ConfigError) as refused:
            read("churn", seconds=seconds)
        assert refused.value.code == "endpoints.bad-window", read


def test_everything_recorded_and_an_hour_are_windows(trained):
    ws, _ = trained
    assert ws.endpoints.compare("churn", seconds=None)["window_seconds"] is None
    assert ws.endpoints.compare("churn", seconds=3600)["window_seconds"] == 3600


@pytest.mark.parametrize("to", [10**30, 2**63, 0, -1])
def test_rolling_back_to_a_revision_past_any_number_is_not_found(trained, to):
    ws, _ = trained
    with pytest.raises(NotFound) as refused:
        ws.endpoints.rollback("churn", to=to)
    assert refused.value.code == "endpoints.no-such-revision"


@pytest.mark.parametrize("text", ["9" * 400, "9" * 400 + "d", "4000d"])
def test_a_duration_past_ten_years_is_refused(text):
    from kiln.endpoints import parse_duration, parse_strategy

    with pytest.raises(ConfigError) as refused:
        parse_duration(text, what="bake")
    assert refused.value.code == "endpoints.bad-duration"
    with pytest.raises(ConfigError) as refused:
        parse_strategy(f"canary:10%:{text}")
    assert refused.value.code == "endpoints.bad-strategy"
    assert parse_duration("3650d") == 3650 * 86400
