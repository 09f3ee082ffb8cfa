"""Hashing PII, dropping columns, a user's function, and resampling the training rows."""

from __future__ import annotations

import hashlib
import hmac
import importlib

import pandas as pd

from kiln.data import BOOLEAN, CATEGORICAL, NUMERIC, infer_schema
from kiln.recipe import _spec as s
from kiln.recipe._default import category_text
from kiln.recipe._ops._base import Op, performs, pii_key

__all__ = ["DropColumnsOp", "FunctionOp", "HashPiiOp", "ResampleOp", "pii_token"]


def pii_token(value: object, key: bytes | None = None) -> str:
    """The token ``hash_pii`` puts in place of ``value``: the first 20 hex digits of its
    HMAC-SHA256 under the ``pii_key`` (the active one when ``key`` is None)."""
    key = key if key is not None else pii_key().encode()
    return hmac.new(key, category_text(value).encode(), hashlib.sha256).hexdigest()[:20]


# --- PII, resampling, other -------------------------------------------------------------------


@performs(s.HashPii)
class HashPiiOp(Op):
    def fit(self, frame, y):
        pii_key()  # fail now, not at the first request, when no key is set

    def apply(self, frame):
        key = pii_key().encode()
        out = {}
        for c in self.columns:
            column = frame.dense[c]
            text = column.astype(object).where(column.notna())
            out[c] = text.map(lambda v: pii_token(v, key), na_action="ignore").to_numpy(
                dtype=object
            )
        kinds = {
            c: CATEGORICAL if frame.types[c] in (NUMERIC, BOOLEAN) else frame.types[c]
            for c in self.columns
        }
        frame.put(out, kinds)
        return frame


@performs(s.DropColumns)
class DropColumnsOp(Op):
    def apply(self, frame):
        frame.drop(self.columns)
        return frame


@performs(s.Function)
class FunctionOp(Op):
    def fit(self, frame, y):
        self._function()

    def _function(self):
        path = self.step.function
        module, _, name = path.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise self.error(
                f"cannot import function {path!r} ({exc}). Give 'module:name' of a function "
                "importable where the model trains and runs (on PYTHONPATH).",
                code="recipe.bad-function",
            ) from exc

    def apply(self, frame):
        given = frame.dense[self.columns].copy()
        result = self._function()(given)
        if not isinstance(result, pd.DataFrame) or len(result) != len(given):
            raise self.error(
                f"{self.step.function} must return a DataFrame with {len(given)} rows; it "
                f"returned {type(result).__name__}"
                + (f" with {len(result)} rows" if hasattr(result, "__len__") else "")
                + ".",
                code="recipe.bad-function",
            )
        result = result.reset_index(drop=True)
        if not hasattr(self, "kinds"):  # fixed at fit time so inference agrees with training
            import pyarrow as pa

            schema = infer_schema(pa.Table.from_pandas(result, preserve_index=False))
            self.kinds = {c["name"]: c["type"] for c in schema["columns"]}
        frame.drop(self.columns)
        frame.put(result, {c: self.kinds.get(c, NUMERIC) for c in result.columns})
        return frame


@performs(s.Oversample, s.Undersample, s.Smote, s.Adasyn, s.EditedNearestNeighbours)
class ResampleOp(Op):
    """Runs last, on the finished feature matrix (see ``RecipeTransformer``)."""

    def sampler(self):
        from imblearn import over_sampling, under_sampling

        step, seed = self.step, self.context.seed
        strategy = step.ratio if getattr(step, "ratio", None) is not None else "auto"
        if isinstance(step, s.Oversample):
            return over_sampling.RandomOverSampler(sampling_strategy=strategy, random_state=seed)
        if isinstance(step, s.Undersample):
            return under_sampling.RandomUnderSampler(sampling_strategy=strategy, random_state=seed)
        if isinstance(step, s.Smote):
            return over_sampling.SMOTE(
                sampling_strategy=strategy, k_neighbors=step.k_neighbors, random_state=seed
            )
        if isinstance(step, s.Adasyn):
            return over_sampling.ADASYN(n_neighbors=step.n_neighbors, random_state=seed)
        return under_sampling.EditedNearestNeighbours(n_neighbors=step.n_neighbors)

    def resample(self, X, y):
        try:
            return self.sampler().fit_resample(X, y)
        except ValueError as exc:
            raise self.error(f"{exc}", code="recipe.bad-values") from exc

    def apply(self, frame):
        return frame
