"""Numbers as people read them: the one formatting of hyperparameters and settings that the CLI
and the HTML reports share."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

SIGNIFICANT_DIGITS = 4


def format_value(value: Any) -> str:
    """A value for display: integers (and whole floats, as pandas makes of an integer column
    with gaps) without a decimal point, other floats to 4 significant digits, dicts and lists
    element by element."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return "—"
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        if 1e4 <= abs(number) < 1e15:  # 12345.67 reads better as 12346 than as 1.235e+04
            return f"{number:.0f}"
        return f"{number:.{SIGNIFICANT_DIGITS}g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)
