"""A recipe compiled into the scikit-learn transformer a model's Pipeline carries.

The user's steps run in order on a ``Frame``; whatever is still raw afterwards (categoricals,
dates, numerics with missing values) goes through the default recipe, so a recipe only says what
differs from the default. Resampling steps run last, on the finished feature matrix, and only
while fitting: inference never adds or drops rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from kiln.data import BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER, NUMERIC, TEXT
from kiln.recipe import _spec as s
from kiln.recipe._default import (
    build_preprocessor,
    categorical_code_columns,
    native_categorical_options,
)
from kiln.recipe._fast import RowEncoder, finish_signature, probe_rows
from kiln.recipe._frame import SPARSE, Frame, select, step_label
from kiln.recipe._ops import TEXT_STATS, Context, ResampleOp, op_for
from kiln.recipe._spec import Recipe, RecipeError

RAW_TYPES = (NUMERIC, CATEGORICAL, BOOLEAN, DATETIME)
# Batches up to this size finish through the compiled default recipe (real-time requests).
FAST_ROWS = 64


def _columns_of(step: s.Step, types: dict[str, str], index: int, *, open_ended=False):
    if isinstance(step, s.Ratio):
        both = step.model_copy(update={"columns": [*step.numerator, *step.denominator]})
        return select(types, both, index, open_ended=open_ended)
    return select(types, step, index, open_ended=open_ended)


def plan(recipe: Recipe, column_types: dict[str, str], problem_type: str | None) -> list[str]:
    """Check the recipe against the data set's columns before any job runs, and return the
    raw columns it reads beyond the default features (text or identifier columns it names)."""
    types = dict(column_types)
    reads: list[str] = []
    open_ended = False
    for index, step in enumerate(recipe.steps, 1):
        label = step_label(step, index)
        if step.needs_target and problem_type is None:
            raise RecipeError(
                f"{label} learns from the target: train with --target, or remove the step.",
                code="recipe.needs-target",
            )
        if step.training_only and step.needs_target and problem_type == "regression":
            raise RecipeError(
                f"{label} balances classes and needs a classification target; this problem is "
                f"{problem_type}.",
                code="recipe.needs-target",
            )
        if isinstance(step, s._Resampler):
            continue
        columns = _columns_of(step, types, index, open_ended=open_ended)
        # Text and identifier columns become model inputs only when a step asks for them by
        # name, pattern or type; "all" and the like mean the columns the model uses anyway.
        broad = isinstance(step.columns, str) and step.columns in s.SELECTORS
        broad = broad and step.columns not in (TEXT, IDENTIFIER)
        reads += [
            c
            for c in columns
            if not broad
            and c in column_types
            and types.get(c) == column_types[c]
            and column_types[c] in (TEXT, IDENTIFIER)
            and c not in reads
        ]
        # A vectorizer told to keep its columns leaves them as they were, beside its blocks.
        output = "same" if getattr(step, "keep", False) else step.output_type
        if isinstance(step, s._Vectorizer):
            open_ended = True
        if output is None:
            for c in columns:
                types.pop(c, None)
            open_ended = True
        elif output != "same":
            types.update({c: output for c in columns})
        if isinstance(step, s.MissingIndicator):
            types.update({f"{c}_missing": NUMERIC for c in columns})
        elif isinstance(step, s.Cross):
            types["_x_".join(columns)] = CATEGORICAL
        elif isinstance(step, s.TextStats):
            types.update({f"{c}_{stat}": NUMERIC for c in columns for stat in TEXT_STATS})
        elif isinstance(step, s.Ratio):
            types.update(
                {f"{a}_per_{b}": NUMERIC for a in step.numerator for b in step.denominator}
            )
        elif isinstance(step, s.Product):
            types.update(
                {f"{a}_x_{b}": NUMERIC for i, a in enumerate(columns) for b in columns[i + 1 :]}
            )
        elif isinstance(step, s.Polynomial | s.TreeLeaves | s.DropMissingColumns):
            open_ended = True
        elif isinstance(step, s.HashPii):
            types.update({c: CATEGORICAL for c in columns if types[c] in (NUMERIC, BOOLEAN)})
    return reads


class RecipeTransformer(TransformerMixin, BaseEstimator):
    """The fitted recipe: DataFrame in, the estimator's feature matrix out.

    ``fit_resample`` is what training calls (rows may be dropped or synthesised); ``transform``
    keeps every row.
    """

    def __init__(
        self,
        recipe: list[dict] | None = None,
        column_types: dict[str, str] | None = None,
        problem_type: str | None = None,
        scale_numeric: bool = False,
        seed: int = 42,
        categorical_codes: int | None = None,
    ):
        self.recipe = recipe  # not ``steps``: code that walks Pipelines reads that name
        self.column_types = column_types
        self.problem_type = problem_type
        self.scale_numeric = scale_numeric
        self.seed = seed
        self.categorical_codes = categorical_codes

    # -- fitting --------------------------------------------------------------------------

    def fit_resample(self, X: pd.DataFrame, y=None):
        parsed = Recipe.parse(self.recipe or [])
        context = Context(self.problem_type, self.seed)
        self.inputs_ = list(X.columns)
        frame = self._frame(X)
        y = None if y is None else np.asarray(y)
        self.ops_, resamplers = [], []
        for index, step in enumerate(parsed.steps, 1):
            if step.needs_target and y is None:
                raise RecipeError(
                    f"{step_label(step, index)} learns from the target, and none was given.",
                    code="recipe.needs-target",
                )
            op = op_for(step, [], index, context)
            if isinstance(op, ResampleOp):
                resamplers.append(op)
                continue
            types = {**frame.types, **{b: SPARSE for b in frame.blocks}}
            op.columns = _columns_of(step, types, index)
            frame, y = op.fit_apply(frame, y)
            self.ops_.append(op)
        self._fit_finish(frame, y)
        out = self._finish(frame)
        for op in resamplers:
            out, y = op.resample(out, y)
        self.resamplers_ = [op.step.name for op in resamplers]
        return out, y

    def fit(self, X, y=None):
        self.fit_resample(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        # Only without resampling steps are the rows those of X; training uses fit_resample.
        return self.fit_resample(X, y)[0]

    def _fit_finish(self, frame: Frame, y) -> None:
        scaled = any(isinstance(op.step, s.Scale) for op in self.ops_)
        raw = {c: t for c, t in frame.types.items() if t in RAW_TYPES}
        self.unused_ = [c for c, t in frame.types.items() if t not in RAW_TYPES]
        self.finish_ = None
        if raw:
            self.finish_ = build_preprocessor(
                raw,
                scale_numeric=self.scale_numeric and not scaled,
                sparse=False,
                # A recipe fitted before codes existed has no such attribute.
                categorical_codes=getattr(self, "categorical_codes", None),
            ).fit(frame.dense[list(raw)], y)
        self.finish_columns_ = list(raw)
        self.blocks_ = list(frame.blocks)
        if not raw and not frame.blocks:
            left = ", ".join(f"{c} ({t})" for c, t in frame.types.items()) or "none"
            raise RecipeError(
                f"The recipe leaves the model no features (columns left: {left}). Text columns "
                "need a vectorising step (tfidf, bag_of_words, osb) to become features.",
                code="recipe.no-features",
            )
        names = []
        if self.finish_ is not None:
            names += [
                n.split("__", 1)[1] if "__" in n else n
                for n in self.finish_.get_feature_names_out()
            ]
        for block in self.blocks_:
            names += frame.blocks[block][0]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.fast_finish_ = self._compile_finish()

    def _compile_finish(self):
        """The default-recipe part compiled to NumPy for small batches (as endpoints do for the
        default recipe), or None when the compiled form does not reproduce it."""
        signature = finish_signature(self.finish_) if self.finish_ is not None else None
        if signature is None:
            return None
        return RowEncoder.compile(self.finish_, probe_rows(signature, self.finish_))

    # -- inference ------------------------------------------------------------------------

    def _frame(self, X: pd.DataFrame) -> Frame:
        missing = [c for c in self.inputs_ if c not in X.columns]
        if missing:
            raise RecipeError(
                f"The recipe needs column(s) {missing} that the input lacks.",
                code="recipe.unknown-column",
                field=missing[0],
            )
        dense = X[self.inputs_].reset_index(drop=True).copy()
        types = dict(self.column_types or {})
        return Frame(dense, {c: types.get(c, NUMERIC) for c in self.inputs_})

    def transform_frame(self, X: pd.DataFrame) -> Frame:
        """The table after the recipe's own steps, before the default completion."""
        frame = self._frame(X)
        for op in self.ops_:
            frame = op.apply(frame)
        return frame

    def transform(self, X: pd.DataFrame):
        return self._finish(self.transform_frame(X))

    def _finish(self, frame: Frame):
        parts = []
        fast = getattr(self, "fast_finish_", None)
        if fast is not None and len(frame) <= FAST_ROWS:
            columns = {c: frame.numbers([c])[:, 0] for c in fast.numeric}
            for c in fast.categorical:
                column = frame.dense[c].astype(object)
                columns[c] = column.where(column.notna(), None).to_numpy()
            parts.append(fast.encode(columns))
        elif self.finish_ is not None:
            parts.append(
                np.asarray(self.finish_.transform(frame.dense[self.finish_columns_]), float)
            )
        blocks = [frame.blocks[b][1] for b in self.blocks_ if b in frame.blocks]
        if not blocks:
            return parts[0] if parts else np.empty((len(frame), 0))
        return sp.hstack([sp.csr_matrix(p) for p in parts] + blocks, format="csr")

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_out_


class ModelPipeline(Pipeline):
    """recipe + estimator, fitted through ``fit_resample`` so that resampled rows keep their
    labels (scikit-learn's Pipeline passes the original ``y`` to the estimator), and with the
    columns of categorical codes made known to an estimator that splits categories itself."""

    def fit(self, X, y=None, **params: Any):
        recipe, estimator = self.steps[0][1], self.steps[-1][1]
        if hasattr(recipe, "fit_resample"):
            Xt, yt = recipe.fit_resample(X, y)
        else:
            Xt, yt = recipe.fit_transform(X, y), y
        codes = categorical_code_columns(recipe)
        params = {**native_categorical_options(estimator, codes, Xt.shape[1]), **params}
        estimator.fit(Xt, yt, **params)
        return self


def compile_recipe(
    recipe: Any,
    column_types: dict[str, str],
    *,
    problem_type: str | None,
    scale_numeric: bool,
    seed: int,
    categorical_codes: int | None = None,
) -> RecipeTransformer:
    """An unfitted RecipeTransformer for ``recipe`` (a Recipe, list of dicts or YAML path);
    ``categorical_codes`` as ``build_preprocessor``'s, for the columns the recipe leaves."""
    parsed = Recipe.parse(recipe)
    return RecipeTransformer(
        recipe=parsed.to_list(),
        column_types=dict(column_types),
        problem_type=problem_type,
        scale_numeric=scale_numeric,
        seed=seed,
        categorical_codes=categorical_codes,
    )
