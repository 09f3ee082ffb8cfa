"""The table a recipe works on: named dense columns with kiln's semantic types, plus sparse
numeric blocks (text vectors), and how a step's ``columns`` selects from it."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from kiln.data import BOOLEAN, CATEGORICAL, NUMERIC
from kiln.recipe._spec import SELECTORS, RecipeError, Step

SPARSE = "sparse"  # the type of a sparse block: numeric features, many of them


@dataclass
class Frame:
    dense: pd.DataFrame
    types: dict[str, str]
    blocks: dict[str, tuple[list[str], sp.csr_matrix]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.dense)

    def copy(self) -> Frame:
        return Frame(self.dense.copy(), dict(self.types), dict(self.blocks))

    def take(self, rows: np.ndarray) -> Frame:
        """The rows at boolean mask or positions ``rows``."""
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        blocks = {n: (names, m[rows]) for n, (names, m) in self.blocks.items()}
        return Frame(self.dense.iloc[rows].reset_index(drop=True), dict(self.types), blocks)

    def type_of(self, name: str) -> str:
        return SPARSE if name in self.blocks else self.types[name]

    def numbers(self, columns: list[str]) -> np.ndarray:
        """Dense numeric columns as a float matrix (missing as NaN)."""
        return (
            np.column_stack(
                [
                    pd.to_numeric(self.dense[c], errors="coerce").to_numpy(float, na_value=np.nan)
                    for c in columns
                ]
            )
            if columns
            else np.empty((len(self), 0))
        )

    def matrix(self, columns: list[str]) -> tuple[np.ndarray | sp.csr_matrix, list[str]]:
        """Dense numeric columns and sparse blocks side by side, with their feature names."""
        dense = [c for c in columns if c not in self.blocks]
        blocks = [c for c in columns if c in self.blocks]
        names = list(dense)
        parts = [self.numbers(dense)] if dense else []
        for b in blocks:
            names += self.blocks[b][0]
            parts.append(self.blocks[b][1])
        if blocks:
            return sp.hstack([sp.csr_matrix(p) for p in parts], format="csr"), names
        return (parts[0] if parts else np.empty((len(self), 0))), names

    def drop(self, columns: list[str]) -> None:
        dense = [c for c in columns if c in self.types]
        self.dense = self.dense.drop(columns=dense)
        for c in dense:
            del self.types[c]
        for c in columns:
            self.blocks.pop(c, None)

    def put(self, values: pd.DataFrame | dict, kind: str | dict[str, str]) -> None:
        """Add or replace dense columns (``kind``: one type for all, or per column)."""
        values = values if isinstance(values, pd.DataFrame) else pd.DataFrame(values)
        values.index = self.dense.index
        new = [n for n in values.columns if n not in self.dense.columns]
        for name in values.columns:
            if name not in new:
                self.dense[name] = values[name]
        if new:
            self.dense = pd.concat([self.dense, values[new]], axis=1)
        for name in values.columns:
            self.types[name] = kind if isinstance(kind, str) else kind[name]

    def names(self) -> list[str]:
        return [*self.dense.columns, *self.blocks]


def matches_selector(selector: str, kind: str) -> bool:
    if selector == "all":
        return True
    if selector == "features":
        return kind in (NUMERIC, SPARSE)
    if selector == "categorical":
        return kind in (CATEGORICAL, BOOLEAN)
    return kind == selector


def step_label(step: Step, index: int) -> str:
    return f"Step {index} ({step.name})"


def select(frame_types: dict[str, str], step: Step, index: int, *, open_ended: bool = False):
    """The column names ``step.columns`` picks from columns of ``frame_types`` (name → type).

    Explicit names must exist and have an accepted type; selectors and regexes keep only the
    accepted types. ``open_ended`` (planning without data) skips the existence check for names
    that earlier steps may create.
    """
    label = step_label(step, index)
    accepts = set(step.accepts) | ({SPARSE} if step.takes_blocks else set())
    spec = step.columns
    if isinstance(spec, str) and spec in SELECTORS:
        chosen = [c for c, t in frame_types.items() if matches_selector(spec, t) and t in accepts]
        what = f"selector {spec!r}"
    elif isinstance(spec, dict):
        if set(spec) != {"regex"}:
            raise RecipeError(
                f"{label}: a column pattern is written {{regex: PATTERN}}; got {spec!r}.",
                code="recipe.bad-parameter",
                field="columns",
            )
        try:
            pattern = re.compile(spec["regex"])
        except re.error as exc:
            raise RecipeError(
                f"{label}: bad regex {spec['regex']!r}: {exc}.",
                code="recipe.bad-parameter",
                field="columns",
            ) from exc
        chosen = [c for c, t in frame_types.items() if pattern.search(c) and t in accepts]
        what = f"regex {spec['regex']!r}"
    else:
        names = [spec] if isinstance(spec, str) else list(spec)
        chosen = []
        for name in names:
            if name not in frame_types:
                if open_ended:
                    continue
                close = difflib.get_close_matches(str(name), list(frame_types), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise RecipeError(
                    f"{label}: unknown column {name!r}.{hint} Columns at this step: "
                    f"{', '.join(list(frame_types)[:30])}"
                    + (" ..." if len(frame_types) > 30 else "")
                    + ".",
                    code="recipe.unknown-column",
                    field=str(name),
                )
            kind = frame_types[name]
            if kind not in accepts:
                raise RecipeError(
                    f"{label}: column {name!r} is {kind}, and {step.name} takes "
                    f"{' or '.join(step.accepts)} columns. Convert or encode it first, or "
                    "leave it out.",
                    code="recipe.wrong-type",
                    field=str(name),
                )
            chosen.append(name)
        return chosen
    if not chosen and not open_ended:
        raise RecipeError(
            f"{label}: {what} matches no {' or '.join(step.accepts)} column at this step. "
            f"Columns: {', '.join(f'{c} ({t})' for c, t in list(frame_types.items())[:30])}.",
            code="recipe.empty-selection",
            field="columns",
        )
    return chosen
