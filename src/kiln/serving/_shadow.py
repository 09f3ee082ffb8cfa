"""Shadow variants: a copy of sampled live requests scored by the shadow model off the response
path, its answer compared with the live one and never returned."""

from __future__ import annotations

import asyncio
import logging
import math

import anyio

from kiln.serving._cache import LoadedVariant
from kiln.serving._metrics import ServingMetrics

log = logging.getLogger("kiln.serving")

# Copies waiting or being scored at once; past this, a copy is skipped (counted), so a slow
# shadow model can never build a backlog that takes memory or the live requests' cores.
MAX_PENDING = 8
# Two regression answers agree when they differ by at most this share of the live value.
VALUE_TOLERANCE = 0.01


class ShadowCopies:
    def __init__(self, metrics: ServingMetrics):
        self.metrics = metrics
        self.pending: set[asyncio.Task] = set()
        self.skipped = 0
        self._limiter: anyio.CapacityLimiter | None = None

    def copy(
        self,
        endpoint: str,
        shadow: LoadedVariant,
        body: bytes,
        as_json: bool,
        live: list,
        live_seconds: float,
    ) -> None:
        """Score ``body`` with the shadow variant in the background (called on the event loop)."""
        if len(self.pending) >= MAX_PENDING:
            self.skipped += 1
            return
        task = asyncio.get_running_loop().create_task(
            self._score(endpoint, shadow, body, as_json, live, live_seconds)
        )
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _score(self, endpoint, shadow, body, as_json, live, live_seconds) -> None:
        from kiln.serving._app import _timed

        if self._limiter is None:
            # One thread: the shadow never takes more than one core from live requests.
            self._limiter = anyio.CapacityLimiter(1)
        timing: dict[str, float] = {}
        agreed, difference, error = None, None, False
        try:
            predictions, _warnings = await anyio.to_thread.run_sync(
                _timed, shadow.loaded, body, as_json, timing, limiter=self._limiter
            )
        except Exception as exc:  # a failing shadow is recorded, never raised
            log.debug("Shadow %s of %s failed: %s", shadow.name, endpoint, exc)
            error = True
        else:
            agreed, difference = compare(live, predictions)
            self.metrics.predictions(endpoint, shadow.name, shadow.model_ref, predictions)
        self.metrics.shadow(
            endpoint,
            shadow.name,
            shadow.model_ref,
            agreed=agreed,
            difference=difference,
            shadow_seconds=timing.get("seconds", 0.0),
            live_seconds=live_seconds,
            error=error,
        )

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the copies in progress (at shutdown)."""
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=timeout)


def compare(live: list, shadow: list) -> tuple[bool, float | None]:
    """Whether the shadow's answer agrees with the live one (every row: the same class; values
    within VALUE_TOLERANCE; forecasts: every step's mean within it), and the largest difference:
    of a class probability, or of a value relative to the live value."""
    if len(live) != len(shadow):
        return False, None
    agreed, largest = True, 0.0
    for mine, theirs in zip(live, shadow, strict=True):
        if "label" in mine and "label" in theirs:
            agreed &= mine["label"] == theirs["label"]
            probabilities = mine.get("probabilities", {})
            other = theirs.get("probabilities", {})
            for label in probabilities.keys() | other.keys():
                largest = max(largest, abs(probabilities.get(label, 0.0) - other.get(label, 0.0)))
        elif "value" in mine and "value" in theirs:
            relative = _relative(mine["value"], theirs["value"])
            agreed &= relative <= VALUE_TOLERANCE
            largest = max(largest, relative)
        elif "forecast" in mine and "forecast" in theirs:  # a series' forecast: every step's mean
            steps = list(zip(mine["forecast"], theirs["forecast"], strict=False))
            agreed &= mine["series"] == theirs["series"] and len(steps) == len(mine["forecast"])
            for live_step, shadow_step in steps:
                relative = _relative(live_step["mean"], shadow_step["mean"])
                agreed &= relative <= VALUE_TOLERANCE
                largest = max(largest, relative)
        else:
            agreed &= mine == theirs
    return agreed, largest


def _relative(live: float, shadow: float) -> float:
    """The difference of a shadow's value from the live one, relative to the live value."""
    relative = abs(live - shadow) / max(abs(live), 1e-12)
    return relative if math.isfinite(relative) else math.inf
