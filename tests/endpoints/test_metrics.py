"""Serving metrics in the workspace: summed across processes, read by window, pruned by age."""

from datetime import timedelta

from kiln.endpoints import Histogram, variant_stats
from kiln.endpoints._metrics import prune_metrics
from kiln.store import VariantMetricsRow, now


def _row(worker: str, invocations: int, errors: int, started, latency: float):
    histogram = Histogram()
    for _ in range(invocations):
        histogram.observe(latency)
    return VariantMetricsRow(
        endpoint="churn",
        variant="blue",
        model="churn:1",
        role="live",
        period_start=started,
        period_seconds=1.0,
        worker=worker,
        invocations=invocations,
        errors_4xx=0,
        errors_5xx=errors,
        model_latency=histogram.to_dict(),
        overhead_latency=Histogram().to_dict(),
        predictions={"labels": {"Yes": invocations}},
        comparison={},
    )


def test_rows_of_several_workers_are_summed_and_old_ones_pruned(ws):
    stamp = now()
    with ws.store.write() as session:
        session.add_all(
            [
                _row("host:1", 90, 0, stamp, 0.002),
                _row("host:2", 10, 2, stamp, 0.2),
                _row("host:1", 50, 0, stamp - timedelta(days=40), 0.002),
            ]
        )
    recent = variant_stats(ws.store, "churn", seconds=60)["blue"]
    assert (recent.invocations, recent.errors_5xx) == (100, 2)
    assert recent.labels == {"Yes": 100}
    # p50 in the 1-2.5 ms bucket, p99 in the 100-250 ms bucket (the slow worker's tail)
    assert 1 <= recent.latency_ms(0.5) <= 2.5 and 100 <= recent.latency_ms(0.99) <= 250
    assert variant_stats(ws.store, "churn")["blue"].invocations == 150
    assert prune_metrics(ws.store, older_than_days=30) == 1
    assert variant_stats(ws.store, "churn")["blue"].invocations == 100
