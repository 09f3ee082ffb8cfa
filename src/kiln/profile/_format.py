"""How the profile writes counts and percentages for people (the JSON keeps the exact numbers)."""

from __future__ import annotations

import math


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,234 rows``: the count with its noun in the right number."""
    word = noun if n == 1 else (plural or noun + "s")
    return f"{n:,} {word}"


def percent(value: float | None) -> str:
    """A percentage (``12.3`` means 12.3 %) to one decimal: ``12.3 %``.

    A share that is not zero but rounds to 0.0 % reads ``< 0.1 %``, and one that is not all but
    rounds to 100.0 % reads ``> 99.9 %``, so a rare value never looks absent nor a common one
    universal."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0 or value == 100:
        return f"{value:.0f} %"
    if 0 < value < 0.05:
        return "< 0.1 %"
    if 99.95 <= value < 100:
        return "> 99.9 %"
    return f"{value:.1f} %"


def share(part: float, whole: float) -> str:
    """``part`` of ``whole`` as a percentage (see :func:`percent`); ``n/a`` of nothing."""
    return percent(100 * part / whole) if whole else "n/a"
