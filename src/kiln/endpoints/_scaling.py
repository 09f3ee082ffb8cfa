"""How an endpoint scales: its serverless and autoscale configuration sections (validated here),
and the record of scaling actions (``scaling_events``) every part writes and
``ws.endpoints.scaling_events`` reads.

A serverless endpoint's models are unloaded after ``idle_timeout_seconds`` without a request and
loaded again by the next one; at most ``max_concurrency`` of its requests are in flight per server
process. An autoscaled endpoint asks ``kiln serve`` for between ``min_workers`` and ``max_workers``
worker processes, as many as keep its metric (invocations per worker per minute, CPU percent per
worker, or p99 latency) at ``target``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from kiln.endpoints._strategy import parse_duration
from kiln.errors import ConfigError
from kiln.store import Record, ScalingEventRow, now

__all__ = [
    "AUTOSCALE_METRICS",
    "ScalingEvent",
    "autoscale_config",
    "record_scaling_event",
    "serverless_config",
]

DEFAULT_MAX_CONCURRENCY = 20  # SageMaker Serverless Inference's default, too
DEFAULT_IDLE_TIMEOUT = "10m"
DEFAULT_SCALE_OUT_COOLDOWN = "60s"
DEFAULT_SCALE_IN_COOLDOWN = "300s"
# The metric an autoscale policy tracks: its config name, and what the CLI flag calls it.
AUTOSCALE_METRICS = {
    "invocations_per_worker": "--target-invocations-per-worker (per minute)",
    "cpu_percent": "--target-cpu (percent of one core per worker)",
    "p99_ms": "--target-p99-ms (milliseconds)",
}


@dataclass(frozen=True)
class ScalingEvent(Record):
    """One scaling action of an endpoint, with the metric and value that caused it."""

    endpoint: str
    at: datetime
    action: str  # scale-out, scale-in, unload, cold-start, async-workers
    before: int
    after: int
    metric: str | None
    value: float | None
    reason: str

    def to_dict(self) -> dict:
        return self._plain()


def _positive_int(value, *, what: str, code: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1. Got {value!r}.", code=code)
    return value


def _seconds(value: str | float | int, *, what: str, code: str, allow_zero: bool = False) -> float:
    if isinstance(value, str):
        seconds = parse_duration(value, what=what)
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        seconds = float(value)
    else:
        raise ConfigError(
            f"Cannot read the {what} {value!r}: write a duration such as 30s, 10m or 1h.",
            code="endpoints.bad-duration",
        )
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "0 or more" if allow_zero else "more than 0"
        raise ConfigError(f"The {what} must be {bound}. Got {value!r}.", code=code)
    return seconds


def serverless_config(
    *,
    max_concurrency: int | None = None,
    idle_timeout: str | float | None = None,
) -> dict:
    """The ``"serverless"`` section: ``{"max_concurrency": N, "idle_timeout_seconds": S}``,
    checked (a whole ``max_concurrency`` ≥ 1, an ``idle_timeout`` like ``10m`` above 0)."""
    concurrency = _positive_int(
        DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency,
        what="The serverless --max-concurrency",
        code="serverless.bad-max-concurrency",
    )
    seconds = _seconds(
        DEFAULT_IDLE_TIMEOUT if idle_timeout is None else idle_timeout,
        what="idle timeout",
        code="serverless.bad-idle-timeout",
    )
    return {"max_concurrency": concurrency, "idle_timeout_seconds": seconds}


def autoscale_config(
    *,
    min_workers: int = 1,
    max_workers: int,
    target_invocations_per_worker: float | None = None,
    target_cpu: float | None = None,
    target_p99_ms: float | None = None,
    scale_out_cooldown: str | float = DEFAULT_SCALE_OUT_COOLDOWN,
    scale_in_cooldown: str | float = DEFAULT_SCALE_IN_COOLDOWN,
) -> dict:
    """The ``"autoscale"`` section: worker bounds, the one metric it tracks and its target, and
    the cool-downs (seconds), checked."""
    low = _positive_int(min_workers, what="--min", code="autoscale.bad-bounds")
    high = _positive_int(max_workers, what="--max", code="autoscale.bad-bounds")
    if low > high:
        raise ConfigError(
            f"--min ({low}) is above --max ({high}). Give a --min no larger than --max.",
            code="autoscale.bad-bounds",
        )
    targets = {
        "invocations_per_worker": target_invocations_per_worker,
        "cpu_percent": target_cpu,
        "p99_ms": target_p99_ms,
    }
    given = {k: v for k, v in targets.items() if v is not None}
    if len(given) != 1:
        raise ConfigError(
            "An autoscale policy tracks exactly one metric: give one of "
            f"{', '.join(AUTOSCALE_METRICS.values())}. Got {len(given)}.",
            code="autoscale.bad-target",
        )
    ((metric, target),) = given.items()
    bad = isinstance(target, bool) or not isinstance(target, int | float)
    bad = bad or not math.isfinite(target) or target <= 0
    if bad or (metric == "cpu_percent" and target > 100):
        limit = "in (0, 100]" if metric == "cpu_percent" else "above 0"
        raise ConfigError(
            f"The autoscale target {AUTOSCALE_METRICS[metric]} must be a number {limit}. "
            f"Got {target!r}.",
            code="autoscale.bad-target",
        )
    return {
        "min_workers": low,
        "max_workers": high,
        "metric": metric,
        "target": float(target),
        "scale_out_cooldown_seconds": _seconds(
            scale_out_cooldown,
            what="scale-out cool-down",
            code="autoscale.bad-cooldown",
            allow_zero=True,
        ),
        "scale_in_cooldown_seconds": _seconds(
            scale_in_cooldown,
            what="scale-in cool-down",
            code="autoscale.bad-cooldown",
            allow_zero=True,
        ),
    }


def record_scaling_event(
    store,
    endpoint: str,
    action: str,
    *,
    before: int,
    after: int,
    reason: str,
    metric: str | None = None,
    value: float | None = None,
) -> None:
    """Write one scaling action (its own transaction)."""
    with store.write() as session:
        session.add(
            ScalingEventRow(
                endpoint=endpoint,
                at=now(),
                action=action,
                before=before,
                after=after,
                metric=metric,
                value=None if value is None else float(value),
                reason=reason,
            )
        )


def scaling_events(store, endpoint: str, *, limit: int | None = 100) -> list[ScalingEvent]:
    """The endpoint's scaling actions, oldest first (the last ``limit``)."""
    with store.read() as session:
        query = (
            select(ScalingEventRow)
            .where(ScalingEventRow.endpoint == endpoint)
            .order_by(ScalingEventRow.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        rows = session.scalars(query).all()
        return [ScalingEvent._from_row(r) for r in reversed(rows)]
