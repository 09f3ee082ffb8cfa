"""Ops for missing values: drop rows or columns, impute, missing indicators."""

from __future__ import annotations

import pandas as pd

from kiln.data import NUMERIC
from kiln.recipe import _spec as s
from kiln.recipe._ops._base import Op, performs

__all__ = ["DropMissingColumnsOp", "DropMissingRowsOp", "ImputeOp", "MissingIndicatorOp"]


# --- missing values -----------------------------------------------------------------------


@performs(s.DropMissingRows)
class DropMissingRowsOp(Op):
    def fit_apply(self, frame, y):
        keep = frame.dense[self.columns].notna().all(axis=1).to_numpy()
        if not keep.any():
            raise self.error(f"every training row has a missing value in {self.columns}.")
        return frame.take(keep), (y[keep] if y is not None else None)

    def apply(self, frame):
        return frame


@performs(s.DropMissingColumns)
class DropMissingColumnsOp(Op):
    def fit(self, frame, y):
        self.shares = frame.dense[self.columns].isna().mean().to_dict()
        self.dropped = [c for c in self.columns if self.shares[c] > self.step.threshold]

    def apply(self, frame):
        frame.drop(self.dropped)
        return frame


@performs(s.Impute)
class ImputeOp(Op):
    def fit(self, frame, y):
        strategy = self.step.strategy
        numeric = [c for c in self.columns if frame.types[c] == NUMERIC]
        if strategy in ("mean", "median", "interpolate", "knn", "iterative"):
            wrong = [c for c in self.columns if frame.types[c] != NUMERIC]
            if wrong:
                raise self.error(
                    f"strategy {strategy} needs numeric columns; {wrong[0]!r} is "
                    f"{frame.types[wrong[0]]}. Use most_frequent or constant for it.",
                    code="recipe.wrong-type",
                    column=wrong[0],
                )
        self.fill = {}
        for c in self.columns:
            column = frame.dense[c]
            if strategy == "constant":
                value = self.step.fill_value
                if c in numeric and isinstance(value, str):
                    raise self.error(
                        f"column {c!r} is numeric, so fill_value must be a number; got {value!r}.",
                        code="recipe.bad-parameter",
                        column=c,
                    )
                self.fill[c] = value if value is not None else (0 if c in numeric else "missing")
            elif strategy == "mean":
                self.fill[c] = float(pd.to_numeric(column).mean())
            elif c in numeric and strategy != "most_frequent":
                self.fill[c] = float(pd.to_numeric(column).median())
            else:
                mode = column.mode(dropna=True)
                self.fill[c] = mode.iloc[0] if len(mode) else None
        if strategy in ("knn", "iterative"):
            if strategy == "knn":
                from sklearn.impute import KNNImputer

                self.model = KNNImputer(n_neighbors=self.step.n_neighbors, keep_empty_features=True)
            else:
                from sklearn.experimental import enable_iterative_imputer  # noqa: F401
                from sklearn.impute import IterativeImputer

                self.model = IterativeImputer(
                    max_iter=self.step.max_iter,
                    random_state=self.context.seed,
                    keep_empty_features=True,
                )
            self.model.fit(frame.numbers(self.columns))

    def apply(self, frame):
        strategy = self.step.strategy
        values = frame.dense[self.columns]
        if strategy in ("knn", "iterative"):
            filled = self.model.transform(frame.numbers(self.columns))
            values = pd.DataFrame(filled, columns=self.columns)
        elif strategy in ("ffill", "bfill"):
            values = values.ffill() if strategy == "ffill" else values.bfill()
        elif strategy == "interpolate":
            values = values.apply(pd.to_numeric).interpolate(limit_direction="both")
        fills = {c: v for c, v in self.fill.items() if v is not None}
        out = {}
        for c in self.columns:
            column = values[c]
            if c in fills and column.isna().any():
                column = (
                    column.fillna(fills[c])
                    if frame.types[c] == NUMERIC
                    else (column.astype(object).where(column.notna(), fills[c]))
                )
            out[c] = column.to_numpy()
        frame.put(out, {c: frame.types[c] for c in self.columns})
        return frame


@performs(s.MissingIndicator)
class MissingIndicatorOp(Op):
    def fit(self, frame, y):
        self.flagged = [c for c in self.columns if frame.dense[c].isna().any()]

    def apply(self, frame):
        flags = {f"{c}_missing": frame.dense[c].isna().to_numpy(float) for c in self.flagged}
        if flags:
            frame.put(flags, NUMERIC)
        return frame
