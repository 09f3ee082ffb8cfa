"""Which rows a facet or a label value selects: ``sex=female``, ``age<25``, a list of values.

The facet's selected rows are the disfavoured group *d* (the group whose treatment is in
question), the other rows the favoured group *a*. The same conditions pick the positive label
(``--label-value Yes``, or ``>0.5`` for a numeric target).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kiln.data import FALSE_WORDS, TRUE_WORDS
from kiln.errors import ConfigError, DataError

__all__ = ["Condition", "parse_condition", "parse_facet"]

_OPERATORS = ("<=", ">=", "<", ">")
_SPEC = re.compile(r"^(?P<column>[^=<>]+?)\s*(?P<op><=|>=|=|<|>)\s*(?P<value>.*)$")
LISTED_VALUES = 20


@dataclass(frozen=True)
class Condition:
    """Rows whose ``column`` equals one of ``values``, or compares with ``threshold`` by
    ``operator`` (``<``, ``<=``, ``>``, ``>=``)."""

    column: str
    values: tuple = ()
    operator: str | None = None
    threshold: float | None = None

    def describe(self) -> str:
        if self.operator is not None:
            return f"{self.column} {self.operator} {self.threshold:g}"
        if len(self.values) == 1:
            return f"{self.column} = {self.values[0]}"
        return f"{self.column} in {{{', '.join(map(str, self.values))}}}"

    def value_text(self) -> str:
        """The value part alone: ``female``, ``<25``, ``a, b``."""
        if self.operator is not None:
            return f"{self.operator}{self.threshold:g}"
        return ", ".join(map(str, self.values))

    def select(self, series: pd.Series) -> np.ndarray:
        """A boolean mask of the rows the condition holds for (missing values: never)."""
        if self.operator is not None:
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                return {
                    "<": numbers < self.threshold,
                    "<=": numbers <= self.threshold,
                    ">": numbers > self.threshold,
                    ">=": numbers >= self.threshold,
                }[self.operator]
        mask = np.zeros(len(series), dtype=bool)
        for value in self.values:
            mask |= _equal(series, value)
        return mask


def _equal(series: pd.Series, value: Any) -> np.ndarray:
    """Rows equal to ``value``, reading a CLI string as the column's own type."""
    present = series.notna().to_numpy()
    if pd.api.types.is_bool_dtype(series) or isinstance(value, bool):
        text = str(value).strip().lower()
        if text in TRUE_WORDS or text == "1":
            wanted = True
        elif text in FALSE_WORDS or text == "0":
            wanted = False
        else:
            return np.zeros(len(series), dtype=bool)
        return present & (series.to_numpy() == wanted)
    if pd.api.types.is_numeric_dtype(series):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return np.zeros(len(series), dtype=bool)
        return series.to_numpy(dtype=float, na_value=np.nan) == number
    return present & (series.astype(str).to_numpy() == str(value))


def distinct_values(series: pd.Series) -> str:
    """The values a column takes, for an error message."""
    counts = series.dropna().astype(str).value_counts()
    shown = ", ".join(repr(v) for v in counts.index[:LISTED_VALUES])
    more = f" and {len(counts) - LISTED_VALUES} more" if len(counts) > LISTED_VALUES else ""
    return f"{shown}{more}" if shown else "none (every value is missing)"


def parse_condition(column: str, value: Any, *, what: str) -> Condition:
    """A condition from a column and a value: a scalar or a list (equality), or a string that
    starts with ``<``, ``<=``, ``>`` or ``>=`` (a numeric threshold). ``what`` names it in errors
    (``facet``, ``label value``)."""
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            raise ConfigError(f"The {what} needs at least one value.", code="clarify.bad-value")
        return Condition(column, tuple(value))
    if isinstance(value, str):
        text = value.strip()
        for operator in _OPERATORS:
            if text.startswith(operator):
                return _threshold(column, operator, text[len(operator) :], what=what)
        if text.startswith("="):
            text = text[1:].strip()
        return Condition(column, (text,))
    return Condition(column, (value,))


def _threshold(column: str, operator: str, text: str, *, what: str) -> Condition:
    try:
        threshold = float(text)
    except ValueError:
        raise ConfigError(
            f"The {what} {column}{operator}{text} compares with {text!r}, which is not a number. "
            f"Write a threshold as COLUMN{operator}NUMBER (age<25), or a value as COLUMN=VALUE.",
            code="clarify.bad-value",
        ) from None
    if not np.isfinite(threshold):
        raise ConfigError(
            f"The {what} threshold {text!r} is not a finite number.", code="clarify.bad-value"
        )
    return Condition(column, operator=operator, threshold=threshold)


def parse_facet(facet: str, facet_value: Any = None) -> tuple[str, Any]:
    """``(column, value)`` from ``facet="sex=female"`` / ``"age<25"``, or ``facet="sex"`` with
    ``facet_value``; the value is None when neither gives one."""
    if facet_value is not None:
        return facet, facet_value
    found = _SPEC.match(facet)
    if found is None:
        return facet, None
    op, value = found["op"], found["value"].strip()
    return found["column"].strip(), value if op == "=" else f"{op}{value}"


def facet_condition(frame: pd.DataFrame, facet: str, facet_value: Any = None) -> Condition:
    """The facet's condition, checked against ``frame``: the column exists, the value occurs,
    and both groups have rows. A column without a value must be boolean or 0/1 (d: true/1)."""
    column, value = parse_facet(facet, facet_value)
    require_column(frame, column, what="facet")
    series = frame[column]
    if value is None:
        present = set(series.dropna().unique().tolist())
        if not present <= {0, 1}:  # True == 1 and False == 0, so booleans pass too
            raise ConfigError(
                f"The facet column {column!r} takes more than the values 0/1 or true/false, so "
                f"name the disfavoured group: --facet {column}=VALUE (or {column}<NUMBER for a "
                f"threshold). Its values: {distinct_values(series)}.",
                code="clarify.missing-facet-value",
                field=column,
            )
        value = 1
    condition = parse_condition(column, value, what="facet")
    if condition.operator is not None and not pd.api.types.is_numeric_dtype(series):
        raise ConfigError(
            f"The facet {condition.describe()} is a numeric threshold, but column {column!r} is "
            f"not numeric. Name a value instead: --facet {column}=VALUE; its values: "
            f"{distinct_values(series)}.",
            code="clarify.bad-value",
            field=column,
        )
    selected = condition.select(series)
    known = series.notna().to_numpy()
    if not selected.any():
        raise DataError(
            f"No row has the facet value {condition.describe()}, so there is no group to "
            f"compare. Column {column!r} takes the values: {distinct_values(series)}.",
            code="clarify.unknown-facet-value",
            field=column,
        )
    if not (known & ~selected).any():
        raise DataError(
            f"Every row has the facet value {condition.describe()}, so there is no other group "
            f"to compare it with. Column {column!r} takes the values: {distinct_values(series)}.",
            code="clarify.one-group",
            field=column,
        )
    return condition


def label_condition(frame: pd.DataFrame, label: str, label_value: Any) -> Condition:
    """The positive label's condition, checked against ``frame``: the column takes the value."""
    require_column(frame, label, what="label")
    condition = parse_condition(label, label_value, what="label value")
    series = frame[label]
    if condition.operator is not None and not pd.api.types.is_numeric_dtype(series):
        raise ConfigError(
            f"The label value {condition.value_text()} is a numeric threshold, but the label "
            f"column {label!r} is not numeric. Its values: {distinct_values(series)}.",
            code="clarify.bad-value",
            field=label,
        )
    if not condition.select(series).any():
        raise DataError(
            f"The label column {label!r} never takes the value {condition.value_text()}, so no "
            f"row is a positive outcome. Its values: {distinct_values(series)}.",
            code="clarify.unknown-label-value",
            field=label,
        )
    return condition


def require_column(frame: pd.DataFrame, column: str, *, what: str) -> None:
    """Refuse a facet, label or group column the data does not have."""
    if column in frame.columns:
        return
    import difflib

    close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    columns = ", ".join(map(str, frame.columns[:30])) + (" …" if len(frame.columns) > 30 else "")
    raise DataError(
        f"The {what} column {column!r} is not in the data.{hint} Its columns: {columns}.",
        code="clarify.unknown-column",
        field=column,
    )
