"""Categorical encoding ops: one-hot, ordinal, target, frequency and hash encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kiln.data import FALSE_WORDS, NUMERIC, TRUE_WORDS
from kiln.recipe import _spec as s
from kiln.recipe._default import MISSING_CATEGORY, as_category_strings, category_text
from kiln.recipe._ops._base import Op, performs

__all__ = ["FrequencyEncodeOp", "HashEncodeOp", "OneHotOp", "OrdinalOp", "TargetEncodeOp"]


# --- categorical encoding -------------------------------------------------------------------


@performs(s.OneHot)
class OneHotOp(Op):
    def fit(self, frame, y):
        from sklearn.preprocessing import OneHotEncoder

        self.model = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=self.step.max_categories,
            sparse_output=False,
        ).fit(as_category_strings(frame.dense[self.columns]))
        self.names = [
            _one_hot_name(n, self.columns) for n in self.model.get_feature_names_out(self.columns)
        ]

    def apply(self, frame):
        encoded = self.model.transform(as_category_strings(frame.dense[self.columns]))
        frame.drop(self.columns)
        frame.put(pd.DataFrame(encoded, columns=self.names), NUMERIC)
        return frame


def _one_hot_name(name: str, columns: list[str]) -> str:
    for c in sorted(columns, key=len, reverse=True):
        if name.startswith(c + "_"):
            value = name[len(c) + 1 :]
            return f"{c}={'other' if value == 'infrequent_sklearn' else value}"
    return name


@performs(s.Ordinal)
class OrdinalOp(Op):
    def fit(self, frame, y):
        order = self.step.order
        missing = [c for c in self.columns if c not in order]
        if missing:
            raise self.error(
                f"no order given for column {missing[0]!r}: add it under 'order' "
                f"({missing[0]}: [lowest, ..., highest]).",
                code="recipe.bad-parameter",
                column=missing[0],
            )
        self.codes = {}
        for c in self.columns:
            seen = set(as_category_strings(frame.dense[[c]])[:, 0]) - {MISSING_CATEGORY}
            self.codes[c] = {_order_text(v, seen): i for i, v in enumerate(order[c])}
            unknown = sorted(seen - set(self.codes[c]))
            if unknown:
                raise self.error(
                    f"column {c!r} has value(s) {unknown[:5]} missing from its order "
                    f"{list(self.codes[c])}. Add them to the order.",
                    column=c,
                )

    def apply(self, frame):
        out = {}
        for c in self.columns:
            text = pd.Series(as_category_strings(frame.dense[[c]])[:, 0])
            out[c] = text.map(self.codes[c]).to_numpy(dtype=float, na_value=np.nan)
        frame.put(out, NUMERIC)
        return frame


_TRUE, _FALSE = TRUE_WORDS | {"1"}, FALSE_WORDS | {"0"}


def _order_text(value, seen: set[str]) -> str:
    """An ordinal order's value as the data spells it. YAML reads ``yes``/``no`` as booleans, so
    ``True`` matches the column's ``yes`` (or ``true``, ``Y``, ...) when the data has one."""
    if isinstance(value, bool):
        words = _TRUE if value else _FALSE
        for text in sorted(seen):
            if text.lower() in words:
                return text
    return category_text(value)


@performs(s.TargetEncode)
class TargetEncodeOp(Op):
    def _encoder(self):
        from sklearn.preprocessing import TargetEncoder

        target_type = {"binary": "binary", "multiclass": "multiclass"}.get(
            self.context.problem_type, "continuous"
        )
        from sklearn.model_selection import KFold, StratifiedKFold

        folds = StratifiedKFold if self.context.classification else KFold
        return TargetEncoder(
            smooth=self.step.smoothing,
            cv=folds(self.step.folds, shuffle=True, random_state=self.context.seed),
            target_type=target_type,
        )

    def fit_apply(self, frame, y):
        self.model = self._encoder()
        X = as_category_strings(frame.dense[self.columns])
        # fit_transform gives every training row the encoding learnt without its own fold.
        encoded = self.model.fit_transform(X, y)
        return self._put(frame, encoded), y

    def fit(self, frame, y):
        self.fit_apply(frame.copy(), y)

    def apply(self, frame):
        return self._put(
            frame, self.model.transform(as_category_strings(frame.dense[self.columns]))
        )

    def _put(self, frame, encoded):
        names = [f"{n}_target" for n in self.model.get_feature_names_out(self.columns)]
        frame.drop(self.columns)
        frame.put(pd.DataFrame(encoded, columns=names), NUMERIC)
        return frame


@performs(s.FrequencyEncode)
class FrequencyEncodeOp(Op):
    def fit(self, frame, y):
        text = as_category_strings(frame.dense[self.columns])
        self.shares = {
            c: pd.Series(text[:, j]).value_counts(normalize=True).to_dict()
            for j, c in enumerate(self.columns)
        }

    def apply(self, frame):
        text = as_category_strings(frame.dense[self.columns])
        out = {
            f"{c}_frequency": pd.Series(text[:, j]).map(self.shares[c]).fillna(0.0).to_numpy()
            for j, c in enumerate(self.columns)
        }
        frame.drop(self.columns)
        frame.put(out, NUMERIC)
        return frame


@performs(s.HashEncode)
class HashEncodeOp(Op):
    def apply(self, frame):
        from sklearn.feature_extraction import FeatureHasher

        n = self.step.n_features
        hasher = FeatureHasher(n_features=n, input_type="string", alternate_sign=True)
        text = as_category_strings(frame.dense[self.columns])
        out = {}
        for j, c in enumerate(self.columns):
            block = hasher.transform([[v] for v in text[:, j]]).toarray()
            out.update({f"{c}_hash{i}": block[:, i] for i in range(n)})
        frame.drop(self.columns)
        frame.put(out, NUMERIC)
        return frame
