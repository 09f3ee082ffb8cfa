"""What each recipe step does to data: fit on training rows, then transform any rows alike.

Each step class in ``_spec`` has an ``Op`` here. ``fit_apply`` runs at training (it may drop or
resample rows, and target encoding uses out-of-fold values there); ``apply`` runs at inference
and never changes the number of rows. The heavy lifting is scikit-learn's and imbalanced-learn's.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import re
import string
from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
import scipy.sparse as sp

from kiln.data import BOOLEAN, CATEGORICAL, NUMERIC, infer_schema
from kiln.recipe import _spec as s
from kiln.recipe._default import MISSING_CATEGORY, as_category_strings, category_text
from kiln.recipe._frame import Frame, step_label
from kiln.recipe._spec import RecipeError
from kiln.settings import active_pii_key


def pii_key() -> str:
    key = active_pii_key()
    if not key:
        raise RecipeError(
            "The recipe's hash_pii step needs a secret key: set pii_key in kiln.toml or the "
            "KILN_PII_KEY environment variable (the same key wherever the model runs).",
            code="recipe.no-pii-key",
        )
    return key


class Context:
    """What every op may need besides its own parameters."""

    def __init__(self, problem_type: str | None, seed: int):
        self.problem_type = problem_type
        self.seed = seed

    @property
    def classification(self) -> bool:
        return self.problem_type in ("binary", "multiclass")


_OPS: dict[type[s.Step], type[Op]] = {}


def performs(*steps: type[s.Step]):
    """Class decorator: the Op does what these step specs describe (one registry of steps: the
    spec in ``_spec.STEPS``, its Op here, its output type on the spec)."""

    def register(op: type[Op]) -> type[Op]:
        for step in steps:
            _OPS[step] = op
        return op

    return register


def op_for(step: s.Step, columns: list[str], index: int, context: Context) -> Op:
    """The Op that carries out ``step`` on ``columns``."""
    return _OPS[type(step)](step, columns, index, context)


class Op(ABC):
    """A step bound to the columns it selected; stateless unless ``fit`` learns something."""

    def __init__(self, step: s.Step, columns: list[str], index: int, context: Context):
        self.step, self.columns, self.index, self.context = step, columns, index, context

    @property
    def label(self) -> str:
        return step_label(self.step, self.index)

    def fit(self, frame: Frame, y: np.ndarray | None) -> None:  # noqa: B027 - optional hook
        """Learn from training rows; steps that learn nothing keep this."""

    @abstractmethod
    def apply(self, frame: Frame) -> Frame:
        """The step on any rows (inference), never adding or dropping rows."""

    def fit_apply(self, frame: Frame, y: np.ndarray | None):
        self.fit(frame, y)
        return self.apply(frame), y

    def error(self, message: str, code: str = "recipe.bad-values", column: str | None = None):
        return RecipeError(f"{self.label}: {message}", code=code, field=column)

    def no_missing(self, frame: Frame, columns: list[str]) -> None:
        counts = {c: int(frame.dense[c].isna().sum()) for c in columns if c in frame.types}
        missing = {c: n for c, n in counts.items() if n}
        if missing:
            listed = ", ".join(f"{c} ({n} missing)" for c, n in missing.items())
            raise self.error(
                f"{self.step.name} cannot take missing values: {listed}. Add an impute step "
                "before it.",
                column=next(iter(missing)),
            )


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


# --- outliers -----------------------------------------------------------------------------


@performs(s.Outliers)
class OutliersOp(Op):
    """Univariate detectors learn bounds per column; model-based ones learn which rows are
    inliers (on the selected columns, missing values read as the training median)."""

    univariate = ("zscore", "iqr", "percentile")

    def fit(self, frame, y):
        X = frame.numbers(self.columns)
        self.medians = np.nan_to_num(np.nanmedian(X, axis=0)) if len(X) else np.zeros(X.shape[1])
        detect = self.step.detect
        if detect in self.univariate:
            if detect == "zscore":
                t = self.step.threshold or 3.0
                mean, std = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
                self.low, self.high = mean - t * std, mean + t * std
            elif detect == "percentile":
                tail = self.step.threshold or 0.05
                if tail >= 0.5:
                    raise self.error(
                        f"percentile threshold is the share cut from each tail and must be below "
                        f"0.5; got {tail}.",
                        code="recipe.bad-parameter",
                    )
                self.low, self.high = np.nanpercentile(X, [100 * tail, 100 * (1 - tail)], axis=0)
            else:
                k = self.step.threshold or 1.5
                q1, q3 = np.nanpercentile(X, [25, 75], axis=0)
                self.low, self.high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
            flagged = (self.low > X) | (self.high < X)
        else:
            self.model = self._detector()
            Xs = self._scaled(X, fit=True)
            self.model.fit(Xs)
            flagged = np.repeat(self._outlier_rows(Xs)[:, None], X.shape[1], axis=1)
        inliers = np.where(flagged, np.nan, X)
        self.mean, self.median = np.nanmean(inliers, axis=0), np.nanmedian(inliers, axis=0)
        self.inlier_low, self.inlier_high = np.nanmin(inliers, axis=0), np.nanmax(inliers, axis=0)

    def _detector(self):
        step, seed = self.step, self.context.seed
        if step.detect == "isolation_forest":
            from sklearn.ensemble import IsolationForest

            return IsolationForest(contamination=step.contamination, random_state=seed)
        if step.detect == "lof":
            from sklearn.neighbors import LocalOutlierFactor

            return LocalOutlierFactor(contamination=step.contamination, novelty=True)
        if step.detect == "elliptic_envelope":
            from sklearn.covariance import EllipticEnvelope

            return EllipticEnvelope(contamination=step.contamination, random_state=seed)
        if step.detect == "one_class_svm":
            from sklearn.svm import OneClassSVM

            return OneClassSVM(nu=step.contamination, gamma="scale")
        from sklearn.cluster import DBSCAN

        return DBSCAN(eps=step.eps, min_samples=step.min_samples)

    def _scaled(self, X, *, fit=False):
        X = np.where(np.isnan(X), self.medians, X)
        if fit:
            self.center = X.mean(axis=0)
            self.spread = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        return (X - self.center) / self.spread

    def _outlier_rows(self, Xs) -> np.ndarray:
        if self.step.detect != "dbscan":
            return self.model.predict(Xs) == -1
        # DBSCAN has no predict: a row is an inlier within eps of a core sample.
        from sklearn.neighbors import NearestNeighbors

        if not hasattr(self, "cores"):
            self.cores = Xs[self.model.core_sample_indices_]
        if len(self.cores) == 0:
            return np.ones(len(Xs), bool)
        distance, _ = NearestNeighbors(n_neighbors=1).fit(self.cores).kneighbors(Xs)
        return distance[:, 0] > self.step.eps

    def flags(self, X: np.ndarray) -> np.ndarray:
        if self.step.detect in self.univariate:
            return (self.low > X) | (self.high < X)
        rows = self._outlier_rows(self._scaled(X))
        return np.repeat(rows[:, None], X.shape[1], axis=1)

    def fit_apply(self, frame, y):
        self.fit(frame, y)
        if self.step.treat != "drop":
            return self.apply(frame), y
        keep = ~self.flags(frame.numbers(self.columns)).any(axis=1)
        return frame.take(keep), (y[keep] if y is not None else None)

    def apply(self, frame):
        treat = self.step.treat
        if treat == "drop":
            return frame
        X = frame.numbers(self.columns)
        if treat == "log":
            out = np.sign(X) * np.log1p(np.abs(X))
        elif treat == "clip":
            low, high = (
                (self.low, self.high)
                if self.step.detect in self.univariate
                else (self.inlier_low, self.inlier_high)
            )
            out = np.clip(X, low, high)
        else:
            replacement = self.mean if treat == "mean" else self.median
            out = np.where(self.flags(X), replacement, X)
        frame.put(pd.DataFrame(out, columns=self.columns), NUMERIC)
        return frame


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
        function = self.step.function
        X = frame.numbers(self.columns)
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
        frame.put(pd.DataFrame(out, columns=self.columns), NUMERIC)
        return frame


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


_TRUE, _FALSE = ("yes", "true", "y", "t", "1"), ("no", "false", "n", "f", "0")


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


# --- text ---------------------------------------------------------------------------------

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_WORD = re.compile(r"(?u)\b\w\w+\b")


class _TextOp(Op):
    def apply(self, frame):
        out = {}
        for c in self.columns:
            column = frame.dense[c]
            text = column.astype(object).where(column.notna())
            out[c] = text.map(self.edit, na_action="ignore").to_numpy(dtype=object)
        frame.put(out, {c: frame.types[c] for c in self.columns})
        return frame


@performs(s.Lowercase)
class LowercaseOp(_TextOp):
    def edit(self, text):
        return str(text).lower()


@performs(s.RemovePunctuation)
class RemovePunctuationOp(_TextOp):
    def edit(self, text):
        return _PUNCTUATION.sub(" ", str(text))


@performs(s.RemoveStopwords)
class RemoveStopwordsOp(_TextOp):
    def fit(self, frame, y):
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        self.words = frozenset(ENGLISH_STOP_WORDS) | {w.lower() for w in self.step.extra}

    def edit(self, text):
        return " ".join(w for w in str(text).split() if w.lower() not in self.words)


@performs(s.Stem)
class StemOp(_TextOp):
    def fit(self, frame, y):
        import snowballstemmer

        if self.step.language not in snowballstemmer.algorithms():
            raise self.error(
                f"no stemmer for language {self.step.language!r}. Available: "
                f"{', '.join(snowballstemmer.algorithms())}.",
                code="recipe.bad-parameter",
            )

    def edit(self, text):
        return " ".join(self._stemmer().stemWords(str(text).split()))

    def _stemmer(self):
        # Snowball stemmers do not pickle: build one per process on first use.
        if getattr(self, "_cached", None) is None:
            import snowballstemmer

            self._cached = snowballstemmer.stemmer(self.step.language)
        return self._cached

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_cached"}


class OsbAnalyzer:
    """Orthogonal sparse bigrams (not in scikit-learn): each word with each of the next
    ``window - 1`` words, the gap written into the token."""

    def __init__(self, window: int):
        self.window = window

    def __call__(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        return [
            f"{w}_{gap - 1}_{words[i + gap]}"
            for i, w in enumerate(words)
            for gap in range(1, self.window)
            if i + gap < len(words)
        ] or words


@performs(s.BagOfWords, s.Tfidf, s.Osb)
class VectorizeOp(Op):
    def _vectorizer(self):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        step = self.step
        common = dict(max_features=step.max_features, min_df=step.min_df)
        if isinstance(step, s.BagOfWords):
            return CountVectorizer(ngram_range=(1, step.ngram_max), binary=step.binary, **common)
        if isinstance(step, s.Tfidf):
            return TfidfVectorizer(
                ngram_range=(1, step.ngram_max), sublinear_tf=step.sublinear_tf, **common
            )
        return TfidfVectorizer(analyzer=OsbAnalyzer(step.window), sublinear_tf=True, **common)

    def fit(self, frame, y):
        self.models = {}
        for c in self.columns:
            try:
                self.models[c] = self._vectorizer().fit(_texts(frame.dense[c]))
            except ValueError as exc:  # an empty vocabulary
                raise self.error(f"column {c!r}: {exc}.", column=c) from exc

    def apply(self, frame):
        for c, model in self.models.items():
            names = [f"{c}_{self.step.name}={t}" for t in model.get_feature_names_out()]
            frame.blocks[f"{c}_{self.step.name}"] = (
                names,
                sp.csr_matrix(model.transform(_texts(frame.dense[c])), dtype=float),
            )
        frame.drop(self.columns)
        return frame


def _texts(column: pd.Series) -> list[str]:
    return column.astype(object).where(column.notna(), "").astype(str).tolist()


# --- reduction and selection ----------------------------------------------------------------


class _MatrixOp(Op):
    """Steps over a feature matrix: the selected numeric columns and sparse blocks."""

    def features(self, frame):
        self.no_missing(frame, [c for c in self.columns if c in frame.types])
        return frame.matrix(self.columns)


@performs(s.Pca, s.TruncatedSvd)
class ReduceOp(_MatrixOp):
    def fit(self, frame, y):
        from sklearn.decomposition import PCA, TruncatedSVD

        X, _ = self.features(frame)
        if isinstance(self.step, s.Pca):
            n = self.step.n_components
            n = int(n) if n >= 1 else float(n)
            if isinstance(n, int) and n > min(X.shape):
                raise self.error(
                    f"n_components {n} is more than the {min(X.shape)} the data allow.",
                    code="recipe.bad-parameter",
                )
            X = X.toarray() if sp.issparse(X) else X
            self.model = PCA(n_components=n, random_state=self.context.seed).fit(X)
        else:
            n = min(self.step.n_components, X.shape[1] - 1)
            if n < 1:
                raise self.error(
                    "truncated_svd needs at least 2 input features.", code="recipe.bad-parameter"
                )
            self.model = TruncatedSVD(n_components=n, random_state=self.context.seed).fit(X)

    def apply(self, frame):
        X, _ = self.features(frame)
        if isinstance(self.step, s.Pca) and sp.issparse(X):
            X = X.toarray()
        out = self.model.transform(X)
        names = [f"{self.step.prefix}{i + 1}" for i in range(out.shape[1])]
        frame.drop(self.columns)
        frame.put(pd.DataFrame(out, columns=names), NUMERIC)
        return frame


@performs(s.VarianceThreshold, s.CorrelationFilter, s.SelectMutualInfo, s.SelectByImportance, s.Rfe)
class SelectOp(_MatrixOp):
    """Keeps a subset of the features: dense columns are dropped, sparse blocks sliced."""

    def fit(self, frame, y):
        X, names = self.features(frame)
        self.keep = set(np.asarray(names)[self.support(X, y, names)])

    def support(self, X, y, names) -> np.ndarray:
        step, seed = self.step, self.context.seed
        if isinstance(step, s.VarianceThreshold):
            from sklearn.feature_selection import VarianceThreshold

            return VarianceThreshold(step.threshold).fit(X).get_support()
        if isinstance(step, s.CorrelationFilter):
            with np.errstate(all="ignore"):  # a constant column has no correlation
                r = np.nan_to_num(np.abs(np.corrcoef(X, rowvar=False)))
            keep = np.ones(len(names), bool)
            for j in range(len(names)):
                if keep[j] and j:
                    earlier = np.flatnonzero(keep[:j])
                    if (r[earlier, j] > step.threshold).any():
                        keep[j] = False
            return keep
        k = min(step.k, len(names))
        if isinstance(step, s.SelectMutualInfo):
            from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

            score = mutual_info_classif if self.context.classification else mutual_info_regression
            scores = score(X, y, random_state=seed)
        elif isinstance(step, s.SelectByImportance):
            from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

            cls = ExtraTreesClassifier if self.context.classification else ExtraTreesRegressor
            scores = cls(n_estimators=100, random_state=seed, n_jobs=-1).fit(X, y)
            scores = scores.feature_importances_
        else:
            from sklearn.feature_selection import RFE
            from sklearn.linear_model import LogisticRegression, Ridge
            from sklearn.preprocessing import StandardScaler

            model = LogisticRegression(max_iter=500) if self.context.classification else Ridge()
            Xs = StandardScaler(with_mean=not sp.issparse(X)).fit_transform(X)
            return RFE(model, n_features_to_select=k, step=step.step_fraction).fit(Xs, y).support_
        keep = np.zeros(len(names), bool)
        keep[np.argsort(-np.asarray(scores), kind="stable")[:k]] = True
        return keep

    def apply(self, frame):
        dropped = [c for c in self.columns if c in frame.types and c not in self.keep]
        frame.drop(dropped)
        for block in [c for c in self.columns if c in frame.blocks]:
            names, matrix = frame.blocks[block]
            kept = [i for i, n in enumerate(names) if n in self.keep]
            frame.blocks[block] = ([names[i] for i in kept], matrix[:, kept])
        return frame


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
            out[c] = text.map(
                lambda v: hmac.new(key, category_text(v).encode(), hashlib.sha256).hexdigest()[:20],
                na_action="ignore",
            ).to_numpy(dtype=object)
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


__all__ = ["Context", "Op", "op_for", "performs"]
