"""Numeric ops: transforms (log, power, ...), binning and scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kiln.data import CATEGORICAL, NUMERIC
from kiln.recipe import _spec as s
from kiln.recipe._ops._base import Op, performs

__all__ = ["BinOp", "ScaleOp", "TransformOp"]


# --- numeric transforms ---------------------------------------------------------------------

_DOMAINS = {
    "log": (lambda x: x > 0, "above 0", np.log),
    "log1p": (lambda x: x > -1, "above -1", np.log1p),
    "sqrt": (lambda x: x >= 0, "0 or more", np.sqrt),
    "reciprocal": (lambda x: x != 0, "not 0", lambda x: 1.0 / x),
    "box_cox": (lambda x: x > 0, "above 0", None),
}


@performs(s.Transform)
class TransformOp(Op):
    def fit(self, frame, y):
        function = self.step.function
        X = frame.numbers(self.columns)
        if function in _DOMAINS:
            valid, words, _ = _DOMAINS[function]
            for j, c in enumerate(self.columns):
                column = X[:, j][~np.isnan(X[:, j])]
                bad = column[~valid(column)]
                if len(bad):
                    raise self.error(
                        f"{function} needs values {words}, and column {c!r} has {len(bad)} "
                        f"training value(s) that are not (e.g. {bad[0]:g}). Use "
                        f"{'log1p or yeo_johnson' if function != 'reciprocal' else 'a ratio'} "
                        "instead, or clip first.",
                        column=c,
                    )
        if function in ("box_cox", "yeo_johnson"):
            from sklearn.preprocessing import PowerTransformer

            for j, c in enumerate(self.columns):
                present = X[:, j][~np.isnan(X[:, j])]
                if len(np.unique(present)) < 2:
                    raise self.error(
                        f"{function} needs at least two distinct training values in column "
                        f"{c!r}; it has {len(np.unique(present))}. Leave the column out.",
                        column=c,
                    )

            method = "box-cox" if function == "box_cox" else "yeo-johnson"
            self.model = PowerTransformer(method=method, standardize=False).fit(X)

    def apply(self, frame):
        out = self.apply_numbers(frame.numbers(self.columns))
        frame.put(pd.DataFrame(out, columns=self.columns), NUMERIC)
        return frame

    def apply_numbers(self, X: np.ndarray) -> np.ndarray:
        """The function on a float matrix of ``self.columns`` (missing as NaN): what ``apply``
        puts in the frame, and what a compiled model (kiln compile) runs on request columns."""
        function = self.step.function
        with np.errstate(all="ignore"):
            if function == "cbrt":
                out = np.cbrt(X)
            elif function == "yeo_johnson":
                out = self.model.transform(X)
            else:
                valid = _DOMAINS[function][0]
                safe = np.where(valid(X), X, np.nan)
                if function == "box_cox":
                    out = self.model.transform(np.where(np.isnan(safe), 1.0, safe))
                    out[np.isnan(safe)] = np.nan
                else:
                    out = _DOMAINS[function][2](safe)
        return out


@performs(s.Bin)
class BinOp(Op):
    def fit(self, frame, y):
        step = self.step
        self.edges = {}
        for c in self.columns:
            values = frame.numbers([c])[:, 0]
            values = values[~np.isnan(values)]
            if step.method == "edges":
                if not step.edges or list(step.edges) != sorted(set(step.edges)):
                    raise self.error(
                        f"method edges needs 'edges', a strictly increasing list; got "
                        f"{step.edges!r}.",
                        code="recipe.bad-parameter",
                    )
                inner = np.asarray(step.edges, float)
            elif not len(values):
                inner = np.array([])
            elif step.method == "quantile":
                inner = np.unique(np.quantile(values, np.linspace(0, 1, step.bins + 1)[1:-1]))
            else:
                inner = np.linspace(values.min(), values.max(), step.bins + 1)[1:-1]
            if step.labels is not None and len(step.labels) != len(inner) + 1:
                raise self.error(
                    f"{len(inner) + 1} bins for column {c!r} need {len(inner) + 1} labels; got "
                    f"{len(step.labels)} ({step.labels}).",
                    code="recipe.bad-parameter",
                    column=c,
                )
            self.edges[c] = inner

    def apply(self, frame):
        out = {}
        for c, inner in self.edges.items():
            values = frame.numbers([c])[:, 0]
            bounds = [-np.inf, *inner, np.inf]
            labels = self.step.labels or [
                f"[{bounds[i]:.4g}, {bounds[i + 1]:.4g})" for i in range(len(bounds) - 1)
            ]
            codes = np.searchsorted(inner, values, side="right")
            column = np.asarray(labels, dtype=object)[codes]
            column[np.isnan(values)] = None
            out[c] = column
        frame.put(out, CATEGORICAL)
        return frame


# --- scaling --------------------------------------------------------------------------------


@performs(s.Scale)
class ScaleOp(Op):
    def fit(self, frame, y):
        from sklearn import preprocessing as p

        method = self.step.method
        if method == "normalizer":
            self.no_missing(frame, self.columns)
        self.model = {
            "standard": p.StandardScaler,
            "minmax": p.MinMaxScaler,
            "maxabs": p.MaxAbsScaler,
            "robust": p.RobustScaler,
            "normalizer": p.Normalizer,
        }[method]().fit(frame.numbers(self.columns))

    def apply(self, frame):
        X = frame.numbers(self.columns)
        if self.step.method == "normalizer":
            X = np.nan_to_num(X)
        frame.put(pd.DataFrame(self.model.transform(X), columns=self.columns), NUMERIC)
        return frame
