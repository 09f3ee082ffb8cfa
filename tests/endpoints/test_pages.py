"""What Studio's endpoint pages read: a paged list of endpoints and of an endpoint's history, its
metrics as a time series, and a guarded deployment started without waiting for its bakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiln.endpoints import Histogram
from kiln.errors import ConfigError, NotFound, StateError
from kiln.store import VariantMetricsRow, now


def _metrics(variant: str, started, invocations: int, errors: int, latency: float):
    histogram = Histogram()
    for _ in range(invocations):
        histogram.observe(latency)
    return VariantMetricsRow(
        endpoint="churn",
        variant=variant,
        model="churn:1",
        role="live",
        period_start=started,
        period_seconds=1.0,
        worker="host:1",
        invocations=invocations,
        errors_4xx=0,
        errors_5xx=errors,
        model_latency=histogram.to_dict(),
        overhead_latency=Histogram().to_dict(),
        predictions={},
        comparison={},
    )


def test_endpoints_and_their_history_are_paged(two_models_copy):
    ws, first, second = two_models_copy
    ws.endpoints.deploy(first, endpoint="other")
    ws.endpoints.deploy(second, endpoint="churn", variant="green", weight=0.1)
    page = ws.endpoints.page()
    assert [e.name for e in page.items] == ["churn", "other"] and page.total == 2
    assert [e.name for e in ws.endpoints.page(q="oth").items] == ["other"]
    assert ws.endpoints.page(sort="-revision").items[0].name == "churn"
    history = ws.endpoints.history_page("churn", limit=1)
    assert history.total == 2 and history.sort == "-revision"
    assert history.items[0]["revision"] == 2
    assert [v["name"] for v in history.items[0]["variants"]] == ["primary", "green"]
    assert ws.endpoints.history_page("churn", sort="revision").items[0]["revision"] == 1
    with pytest.raises(NotFound):
        ws.endpoints.history_page("nope")


def test_metric_series_buckets_each_variant(two_models_copy):
    ws, _, _ = two_models_copy
    stamp = now()
    with ws.store.write() as session:
        session.add_all(
            [
                _metrics("primary", stamp - timedelta(seconds=100), 10, 0, 0.002),
                _metrics("primary", stamp - timedelta(seconds=99), 5, 1, 0.002),
                _metrics("primary", stamp - timedelta(seconds=10), 20, 0, 0.002),
                _metrics("green", stamp - timedelta(seconds=10), 4, 2, 0.2),
                _metrics("primary", stamp - timedelta(hours=2), 99, 0, 0.002),
            ]
        )
    series = ws.endpoints.metric_series("churn", seconds=300, step=60)
    primary = series["variants"]["primary"]
    assert [p["invocations"] for p in primary] == [15, 20]
    assert primary[0]["errors"] == 1
    green = series["variants"]["green"]
    assert green[0]["error_rate"] == 0.5 and 100 <= green[0]["p99_ms"] <= 250
    for seconds, step in ((0, 10), (300, -1), (10**9, 60), (86400, 1)):
        with pytest.raises(ConfigError) as info:
            ws.endpoints.metric_series("churn", seconds=seconds, step=step)
        assert info.value.code == "endpoints.bad-window"


def test_a_canary_started_without_waiting_returns_at_once_and_completes(two_models_copy):
    ws, _, second = two_models_copy
    job = ws.endpoints.deploy(second, endpoint="churn", strategy="canary:50%:1s", wait=False)
    assert job.kind == "deployment" and job.status in ("Pending", "InProgress")
    assert ws.endpoints.get("churn").active_deployment == job.id
    done = ws.jobs.wait(job.id, timeout=120)
    assert done.status == "Completed", done.failure_reason
    endpoint = ws.endpoints.get("churn")
    assert endpoint.model == second and endpoint.active_deployment is None
    latest = ws.endpoints.history_page("churn", limit=1).items[0]
    assert (latest["strategy"], latest["outcome"], latest["job"]) == (
        "canary:50%:1s",
        "completed",
        job.id,
    )


def test_the_shadow_report_as_one_page(two_models_copy):
    ws, _, second = two_models_copy
    with pytest.raises(StateError) as info:
        ws.endpoints.shadow_report_html("churn")
    assert info.value.code == "endpoints.no-shadow"
    ws.endpoints.deploy(second, endpoint="churn", shadow=True)
    page = ws.endpoints.shadow_report_html("churn")
    assert page.lower().startswith("<!doctype html>")
    assert "Shadow test of shadow on churn" in page
    assert 'data-kiln-library="plotly"' in page  # inlined: nothing to load from beside it
