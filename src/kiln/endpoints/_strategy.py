"""Deployment strategies: how traffic moves from the live variants to a new model.

``all-at-once``; ``canary:10%:5m`` (10 % of traffic, bake 5 minutes, then the rest, bake again);
``linear:25%:2m`` (25 % more each step, baking 2 minutes after each); ``blue-green[:5m]`` (all
traffic at once to the new model, which was loaded beside the old one; the old one stays loaded
through the bake so a rollback is instant). The SageMaker deployment guardrails, on one machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiln.errors import ConfigError

__all__ = ["GRAMMAR", "Strategy", "parse_duration", "parse_strategy"]

GRAMMAR = (
    "all-at-once | canary:PERCENT%:BAKE | linear:PERCENT%:BAKE | blue-green[:BAKE], where BAKE is "
    "a duration such as 30s, 5m or 1h (e.g. canary:10%:5m, linear:25%:2m, blue-green:10m)"
)
DEFAULT_BLUE_GREEN_BAKE = 300.0
# The longest duration read: beyond it a bake, a window or a timeout is a typo (or infinity).
MAX_DURATION_SECONDS = 10 * 366 * 86400.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class Strategy:
    kind: str  # all-at-once | canary | linear | blue-green
    steps: tuple[float, ...]  # the new model's share of traffic after each step, ending at 1.0
    bake_seconds: float  # after each step

    @property
    def text(self) -> str:
        if self.kind == "all-at-once":
            return self.kind
        bake = format_duration(self.bake_seconds)
        if self.kind == "blue-green":
            return f"blue-green:{bake}"
        return f"{self.kind}:{self.steps[0] * 100:g}%:{bake}"


def parse_duration(text: str, *, what: str = "duration") -> float:
    """``"5m"`` → 300.0; a bare number is seconds; at most ten years."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", text or "")
    if not match:
        raise ConfigError(
            f"Cannot read the {what} {text!r}: write a number with a unit, e.g. 30s, 5m, 1h or 1d.",
            code="endpoints.bad-duration",
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds > MAX_DURATION_SECONDS:  # a number of 309 digits reads as infinity
        raise ConfigError(
            f"The {what} {text[:40]!r} is longer than ten years; write a shorter one, e.g. 30s, "
            "5m, 1h or 1d.",
            code="endpoints.bad-duration",
        )
    return seconds


def format_duration(seconds: float) -> str:
    for unit in ("d", "h", "m", "s"):
        if seconds >= _UNITS[unit] and (seconds / _UNITS[unit]).is_integer():
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def parse_strategy(text: str) -> Strategy:
    """Read a strategy string; the error shows the grammar."""
    parts = [p.strip() for p in (text or "").strip().lower().split(":")]
    kind = parts[0]
    try:
        if kind == "all-at-once" and len(parts) == 1:
            return Strategy(kind, (1.0,), 0.0)
        if kind == "blue-green" and len(parts) <= 2:
            bake = parse_duration(parts[1], what="bake") if len(parts) == 2 else None
            return Strategy(kind, (1.0,), DEFAULT_BLUE_GREEN_BAKE if bake is None else bake)
        if kind in ("canary", "linear") and len(parts) == 3:
            share = _percent(parts[1])
            bake = parse_duration(parts[2], what="bake")
            if kind == "canary":
                steps = (share, 1.0) if share < 1.0 else (1.0,)
            else:
                count = max(1, round(1.0 / share + 1e-9))
                if abs(count * share - 1.0) > 1e-9 and count * share < 1.0:
                    count += 1
                steps = tuple(min(1.0, share * (i + 1)) for i in range(count))
            return Strategy(kind, steps, bake)
    except ConfigError as exc:
        raise ConfigError(
            f"Cannot read the strategy {text!r}: {exc.message} The grammar: {GRAMMAR}.",
            code="endpoints.bad-strategy",
        ) from None
    raise ConfigError(
        f"Cannot read the strategy {text!r}. The grammar: {GRAMMAR}.",
        code="endpoints.bad-strategy",
    )


def _percent(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", text)
    value = float(match.group(1)) / 100 if match else -1.0
    if not 0 < value <= 1:
        raise ConfigError(
            f"{text!r} is not a share of traffic between 0% and 100% (e.g. 10%).",
            code="endpoints.bad-strategy",
        )
    return value
