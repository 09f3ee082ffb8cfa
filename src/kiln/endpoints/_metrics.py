"""Per-variant serving metrics as the servers record them (table ``variant_metrics``), read back
over a time window: counts, error rates, latency percentiles and the predictions' distribution.

Servers add one row per variant per period they served (several workers or servers each add
their own); everything here sums rows, so the figures are aggregated across processes. The
deployment guardrails' alarms, ``kiln endpoints show --json`` and ``kiln endpoints compare`` read
these; ``GET /metrics`` is the same figures live from one server, in Prometheus format.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from kiln.store import Store, VariantMetricsRow, now

__all__ = [
    "LATENCY_BOUNDS",
    "Histogram",
    "VariantStats",
    "prune_metrics",
    "variant_series",
    "variant_stats",
]

# Latency histogram bucket upper bounds, in seconds (Prometheus' defaults, finer below 5 ms where
# a compiled recipe answers).
LATENCY_BOUNDS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Shadow comparisons: the absolute difference of the positive class's probability.
DIFFERENCE_BOUNDS = (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass
class Histogram:
    """Counts per bucket (one more than ``bounds``: the last is everything above)."""

    bounds: tuple[float, ...] = LATENCY_BOUNDS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, other: dict) -> None:
        for i, c in enumerate(other.get("counts", ())):
            self.counts[i] += c
        self.total += other.get("sum", 0.0)

    def quantile(self, q: float) -> float | None:
        """Interpolated within the bucket, as Prometheus' ``histogram_quantile`` does."""
        count = self.count
        if not count:
            return None
        rank = q * count
        seen = 0
        for i, c in enumerate(self.counts):
            if seen + c >= rank and c:
                low = self.bounds[i - 1] if i > 0 else 0.0
                high = self.bounds[i] if i < len(self.bounds) else self.bounds[-1] * 2
                return low + (high - low) * (rank - seen) / c
            seen += c
        return self.bounds[-1]

    def to_dict(self) -> dict:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.total}


@dataclass
class VariantStats:
    """One variant's figures over a window, summed across serving processes."""

    variant: str
    models: set[str] = field(default_factory=set)
    role: str = "live"
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_latency: Histogram = field(default_factory=Histogram)
    overhead_latency: Histogram = field(default_factory=Histogram)
    labels: Counter = field(default_factory=Counter)
    values: dict = field(default_factory=dict)
    comparison: dict = field(default_factory=dict)

    def add(self, other: VariantStats) -> None:
        """Add another variant's counts and latencies to these (old variants summed)."""
        self.invocations += other.invocations
        self.errors_4xx += other.errors_4xx
        self.errors_5xx += other.errors_5xx
        self.model_latency.add(other.model_latency.to_dict())
        self.overhead_latency.add(other.overhead_latency.to_dict())

    @property
    def error_rate(self) -> float:
        return (self.errors_4xx + self.errors_5xx) / self.invocations if self.invocations else 0.0

    def latency_ms(self, q: float, *, kind: str = "model") -> float | None:
        value = (self.model_latency if kind == "model" else self.overhead_latency).quantile(q)
        return None if value is None else value * 1000

    def value(self, metric: str) -> float | None:
        """A metric by name, for alarms: invocations, errors_4xx, errors_5xx, error_rate,
        p50/p90/p99_latency_ms, overhead_p99_ms, mean_prediction."""
        if metric in ("invocations", "errors_4xx", "errors_5xx", "error_rate"):
            return float(getattr(self, metric))
        if metric.endswith("_latency_ms") and metric[0] == "p":
            return self.latency_ms(int(metric[1:3]) / 100)
        if metric == "overhead_p99_ms":
            return self.latency_ms(0.99, kind="overhead")
        if metric == "mean_prediction":
            n = self.values.get("count", 0)
            return self.values["sum"] / n if n else None
        raise KeyError(metric)

    def to_dict(self) -> dict:
        out = {
            "variant": self.variant,
            "models": sorted(self.models),
            "role": self.role,
            "invocations": self.invocations,
            "errors_4xx": self.errors_4xx,
            "errors_5xx": self.errors_5xx,
            "error_rate": round(self.error_rate, 6),
            "latency_ms": {
                "model": {f"p{q}": _ms(self.latency_ms(q / 100)) for q in (50, 90, 99)},
                "overhead": {
                    f"p{q}": _ms(self.latency_ms(q / 100, kind="overhead")) for q in (50, 90, 99)
                },
            },
            "predictions": _predictions(self.labels, self.values),
        }
        if self.comparison:
            out["shadow_comparison"] = _comparison(self.comparison)
        return out


def variant_stats(
    store: Store,
    endpoint: str,
    *,
    since: datetime | None = None,
    seconds: float | None = None,
    until: datetime | None = None,
) -> dict[str, VariantStats]:
    """Each variant's figures from ``since`` (or the last ``seconds``) to ``until`` (now)."""
    if since is None and seconds is not None:
        since = now() - timedelta(seconds=seconds)
    query = select(VariantMetricsRow).where(VariantMetricsRow.endpoint == endpoint)
    if since is not None:
        query = query.where(VariantMetricsRow.period_start >= since)
    if until is not None:
        query = query.where(VariantMetricsRow.period_start < until)
    stats: dict[str, VariantStats] = {}
    with store.read() as session:
        for row in session.scalars(query.order_by(VariantMetricsRow.id)):
            entry = stats.setdefault(row.variant, VariantStats(row.variant))
            entry.models.add(row.model)
            entry.role = row.role
            entry.invocations += row.invocations
            entry.errors_4xx += row.errors_4xx
            entry.errors_5xx += row.errors_5xx
            entry.model_latency.add(row.model_latency)
            entry.overhead_latency.add(row.overhead_latency)
            entry.labels.update(row.predictions.get("labels", {}))
            _merge_values(entry.values, row.predictions.get("values"))
            _merge_comparison(entry.comparison, row.comparison or {})
    return stats


def variant_series(store: Store, endpoint: str, *, seconds: float, step: float) -> dict:
    """Each variant's figures in ``step``-second buckets over the last ``seconds``: what a live
    chart draws. ``{"start", "step", "variants": {name: [{"at", "invocations", "errors",
    "error_rate", "p50_ms", "p99_ms"}, ...]}}``, buckets with no requests left out."""
    start = now() - timedelta(seconds=seconds)
    query = (
        select(
            VariantMetricsRow.variant,
            VariantMetricsRow.period_start,
            VariantMetricsRow.invocations,
            VariantMetricsRow.errors_4xx,
            VariantMetricsRow.errors_5xx,
            VariantMetricsRow.model_latency,
        )
        .where(VariantMetricsRow.endpoint == endpoint)
        .where(VariantMetricsRow.period_start >= start)
        .order_by(VariantMetricsRow.id)
    )
    buckets: dict[str, dict[int, VariantStats]] = {}
    with store.read() as session:
        for variant, period_start, invocations, e4, e5, latency in session.execute(query):
            index = int((period_start - start).total_seconds() // step)
            entry = buckets.setdefault(variant, {}).setdefault(index, VariantStats(variant))
            entry.invocations += invocations
            entry.errors_4xx += e4
            entry.errors_5xx += e5
            entry.model_latency.add(latency)
    return {
        "start": start.isoformat() + "Z",
        "step": step,
        "variants": {
            variant: [
                {
                    "at": (start + timedelta(seconds=index * step)).isoformat() + "Z",
                    "invocations": stats.invocations,
                    "errors": stats.errors_4xx + stats.errors_5xx,
                    "error_rate": round(stats.error_rate, 6),
                    "p50_ms": _ms(stats.latency_ms(0.5)),
                    "p99_ms": _ms(stats.latency_ms(0.99)),
                }
                for index, stats in sorted(by_index.items())
            ]
            for variant, by_index in sorted(buckets.items())
        },
    }


def prune_metrics(store: Store, *, older_than_days: float = 30.0) -> int:
    """Delete metric rows older than ``older_than_days``; the number deleted."""
    cutoff = now() - timedelta(days=older_than_days)
    with store.write() as session:
        result = session.execute(
            delete(VariantMetricsRow).where(VariantMetricsRow.period_start < cutoff)
        )
        return result.rowcount or 0


def _merge_values(into: dict, values: dict | None) -> None:
    if not values or not values.get("count"):
        return
    if not into:
        into.update(count=0, sum=0.0, sum_squares=0.0, min=math.inf, max=-math.inf)
    into["count"] += values["count"]
    into["sum"] += values["sum"]
    into["sum_squares"] += values["sum_squares"]
    into["min"] = min(into["min"], values["min"])
    into["max"] = max(into["max"], values["max"])


def _merge_comparison(into: dict, comparison: dict) -> None:
    if not comparison:
        return
    for key in ("compared", "agreed", "errors", "live_errors"):
        into[key] = into.get(key, 0) + comparison.get(key, 0)
    for key, bounds in (
        ("probability_difference", DIFFERENCE_BOUNDS),
        ("live_latency", LATENCY_BOUNDS),
    ):
        if key in comparison:
            histogram = into.setdefault(key, Histogram(bounds))
            histogram.add(comparison[key])


def _comparison(comparison: dict) -> dict:
    compared = comparison.get("compared", 0)
    out = {
        "compared": compared,
        "agreed": comparison.get("agreed", 0),
        "agreement_rate": round(comparison.get("agreed", 0) / compared, 6) if compared else None,
        "shadow_errors": comparison.get("errors", 0),
        "live_errors": comparison.get("live_errors", 0),
    }
    difference = comparison.get("probability_difference")
    if difference is not None and difference.count:
        out["probability_difference"] = {
            "p50": round(difference.quantile(0.5), 6),
            "p90": round(difference.quantile(0.9), 6),
            "p99": round(difference.quantile(0.99), 6),
            "mean": round(difference.total / difference.count, 6),
            "histogram": difference.to_dict(),
        }
    latency = comparison.get("live_latency")
    if latency is not None and latency.count:
        out["live_latency_ms"] = {f"p{q}": _ms(latency.quantile(q / 100)) for q in (50, 90, 99)}
    return out


def _predictions(labels: Counter, values: dict) -> dict:
    if labels:
        total = sum(labels.values())
        return {
            "labels": {
                str(k): {"count": c, "share": round(c / total, 6)} for k, c in labels.most_common()
            }
        }
    if values.get("count"):
        n = values["count"]
        mean = values["sum"] / n
        variance = max(0.0, values["sum_squares"] / n - mean * mean)
        return {
            "count": n,
            "mean": mean,
            "std": math.sqrt(variance),
            "min": values["min"],
            "max": values["max"],
        }
    return {}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
