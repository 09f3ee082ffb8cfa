"""Feature-creation ops: crosses, polynomials, ratios, products, datetime parts, tree leaves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kiln.data import CATEGORICAL, NUMERIC
from kiln.recipe import _spec as s
from kiln.recipe._default import as_category_strings
from kiln.recipe._ops._base import Op, performs

__all__ = ["CrossOp", "DatetimePartsOp", "PolynomialOp", "ProductOp", "RatioOp", "TreeLeavesOp"]


# --- feature creation -----------------------------------------------------------------------


@performs(s.Cross)
class CrossOp(Op):
    def fit(self, frame, y):
        if len(self.columns) < 2:
            raise self.error(
                f"cross needs two or more categorical columns; got {self.columns}.",
                code="recipe.bad-parameter",
            )

    def apply(self, frame):
        text = as_category_strings(frame.dense[self.columns])
        crossed = pd.DataFrame(text).astype(str).agg("|".join, axis=1).to_numpy(dtype=object)
        frame.put({"_x_".join(self.columns): crossed}, CATEGORICAL)
        return frame


@performs(s.Polynomial)
class PolynomialOp(Op):
    def fit(self, frame, y):
        from sklearn.preprocessing import PolynomialFeatures

        # The library gives the terms and names; the products are taken here so that a missing
        # input makes its terms missing instead of an error.
        poly = PolynomialFeatures(
            self.step.degree, interaction_only=self.step.interaction_only, include_bias=False
        ).fit(np.zeros((1, len(self.columns))))
        keep = poly.powers_.sum(axis=1) > 1
        self.powers = poly.powers_[keep]
        names = poly.get_feature_names_out(self.columns)[keep]
        self.names = [n.replace(" ", "*") for n in names]

    def apply(self, frame):
        X = frame.numbers(self.columns)
        out = np.column_stack([np.prod(X**p, axis=1) for p in self.powers])
        frame.put(pd.DataFrame(out, columns=self.names), NUMERIC)
        return frame


@performs(s.Ratio)
class RatioOp(Op):
    def fit(self, frame, y):
        for c in [*self.step.numerator, *self.step.denominator]:
            if c not in frame.types:
                raise self.error(f"unknown column {c!r}.", code="recipe.unknown-column", column=c)
            if frame.types[c] != NUMERIC:
                raise self.error(
                    f"column {c!r} is {frame.types[c]}; ratio takes numeric columns.",
                    code="recipe.wrong-type",
                    column=c,
                )

    def apply(self, frame):
        out = {}
        for a in self.step.numerator:
            for b in self.step.denominator:
                if a != b:
                    num, den = frame.numbers([a])[:, 0], frame.numbers([b])[:, 0]
                    with np.errstate(all="ignore"):
                        out[f"{a}_per_{b}"] = np.where(den != 0, num / den, np.nan)
        frame.put(out, NUMERIC)
        return frame


@performs(s.Product)
class ProductOp(Op):
    def apply(self, frame):
        X = frame.numbers(self.columns)
        out = {
            f"{a}_x_{b}": X[:, i] * X[:, j]
            for i, a in enumerate(self.columns)
            for j, b in enumerate(self.columns)
            if i < j
        }
        frame.put(out, NUMERIC)
        return frame


@performs(s.DatetimeParts)
class DatetimePartsOp(Op):
    def apply(self, frame):
        out = {}
        for c in self.columns:
            moments = pd.to_datetime(frame.dense[c], errors="coerce", format="ISO8601")
            for part in self.step.parts:
                if part == "weekend":
                    values = (moments.dt.day_of_week >= 5).astype(float).where(moments.notna())
                else:
                    values = getattr(moments.dt, part)
                out[f"{c}_{part}"] = values.to_numpy(dtype=float, na_value=np.nan)
        frame.drop(self.columns)
        frame.put(out, NUMERIC)
        return frame


@performs(s.TreeLeaves)
class TreeLeavesOp(Op):
    def fit(self, frame, y):
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
        from sklearn.preprocessing import OneHotEncoder

        X = frame.numbers(self.columns)
        self.medians = np.nan_to_num(np.nanmedian(X, axis=0))
        cls = (
            GradientBoostingClassifier
            if self.context.classification
            else (GradientBoostingRegressor)
        )
        self.model = cls(
            n_estimators=self.step.n_trees,
            max_depth=self.step.max_depth,
            random_state=self.context.seed,
        ).fit(self._filled(X), y)
        leaves = self._leaves(X)
        self.one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(leaves)
        self.names = [f"leaf_{n}" for n in self.one_hot.get_feature_names_out()]

    def _filled(self, X):
        return np.where(np.isnan(X), self.medians, X)

    def _leaves(self, X):
        leaves = self.model.apply(self._filled(X))
        return leaves.reshape(len(X), -1).astype(int)

    def apply(self, frame):
        encoded = self.one_hot.transform(self._leaves(frame.numbers(self.columns)))
        frame.put(pd.DataFrame(encoded, columns=self.names), NUMERIC)
        return frame
