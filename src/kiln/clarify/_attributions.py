"""Explanations: SHAP attributions per input column (global and per row) and their drift,
compared by NDCG as SageMaker's feature attribution drift monitor does."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd

from kiln.errors import ConfigError, DataError
from kiln.evaluation import ShapUnavailable, shap_values, transformed_feature_names
from kiln.registry import TrainedModel

__all__ = [
    "attribution_ndcg",
    "check_attribution",
    "global_attributions",
    "row_attributions",
    "shap_by_column",
]

DEFAULT_NDCG_THRESHOLD = 0.9
TOP_CONTRIBUTIONS = 5
# SHAP of a sample this large gives a stable global ranking; more rows only cost time.
GLOBAL_ROWS = 2000
_PERTURBED_ROWS = 32

# The input column of each model feature, worked out once per loaded model.
_feature_columns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _attribution_error(exc: Exception) -> ConfigError:
    return ConfigError(f"No attributions for this model: {exc}", code="clarify.no-attributions")


def shap_by_column(
    model: TrainedModel, frame: pd.DataFrame, *, encoded: Any = None
) -> tuple[np.ndarray, str, str]:
    """SHAP values per row and input column, ``(rows, outputs, input columns)``, with how they
    were computed and their units.

    The model sees the recipe's features (one-hot columns, missing-value indicators); SHAP
    values add up, so an input column's attribution is the sum of its features'. ``encoded``:
    those features already computed for ``frame`` (the endpoints' compiled recipe).
    """
    if not model.is_classifier and model.problem_type != "regression":
        raise ConfigError(
            f"Attributions explain supervised models; this model is {model.problem_type}.",
            code="clarify.no-attributions",
        )
    missing = [c for c in model.input_columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"The data lack the model's input column(s) {', '.join(map(repr, missing[:10]))}.",
            code="clarify.unknown-column",
            field=missing[0],
        )
    inputs = frame[model.input_columns]
    preprocessor, estimator = model.pipeline[:-1], model.pipeline[-1]
    Xt = preprocessor.transform(inputs) if encoded is None else encoded
    parts, method, units = [], "", ""
    start = 0
    try:
        # scikit-learn forests explain a bounded number of rows per call: ask for the rest.
        while start < Xt.shape[0]:
            values, method, units = shap_values(estimator, Xt[start:])
            parts.append(values)
            start += values.shape[0]
    except ShapUnavailable as exc:
        raise _attribution_error(exc) from None
    values = np.concatenate(parts) if parts else np.zeros((0, 1, Xt.shape[1]))
    owners = _owners(model, inputs, values.shape[-1])
    by_column = np.zeros((values.shape[0], values.shape[1], len(model.input_columns)))
    for feature, column in enumerate(owners):
        by_column[..., column] += values[..., feature]
    return by_column, method, units


def _owners(model: TrainedModel, inputs: pd.DataFrame, width: int) -> list[int]:
    """The input column (index) each of the model's ``width`` features comes from."""
    cached = _feature_columns.get(model)
    if cached is not None and len(cached) == width:
        return cached
    preprocessor = model.pipeline[:-1]
    names = transformed_feature_names(preprocessor, width)
    columns = [str(c) for c in model.input_columns]
    owners: list[int | None] = [_by_name(name, columns) for name in names]
    if any(o is None for o in owners):
        found = _by_perturbation(preprocessor, inputs, columns, width)
        owners = [o if o is not None else found[i] for i, o in enumerate(owners)]
    if any(o is None for o in owners):
        raise ConfigError(
            "The model's features could not be traced back to its input columns, so the "
            "attributions cannot be given per input column.",
            code="clarify.no-attributions",
        )
    result = [int(o) for o in owners if o is not None]
    _feature_columns[model] = result
    return result


def _by_name(name: str, columns: list[str]) -> int | None:
    """The longest input column a feature is named after: ``contract_Two year``,
    ``missingindicator_total_charges``, ``tenure``."""
    best: int | None = None
    for index, column in enumerate(columns):
        named = name == column or name.startswith(column + "_") or name.endswith("_" + column)
        if named and (best is None or len(column) > len(columns[best])):
            best = index
    return best


def _by_perturbation(
    preprocessor, inputs: pd.DataFrame, columns: list[str], width: int
) -> list[int | None]:
    """For features no name tells: the input column whose change (another row's value, or a
    missing value) changes the feature; the first such column."""
    sample = inputs.iloc[:_PERTURBED_ROWS].reset_index(drop=True)
    reference = np.asarray(preprocessor.transform(sample), dtype=float)
    owners: list[int | None] = [None] * width
    for index, column in enumerate(columns):
        changed = np.zeros(width, dtype=bool)
        for altered in (np.roll(sample[column].to_numpy(), 1), None):
            copy = sample.copy()
            copy[column] = altered
            try:
                out = np.asarray(preprocessor.transform(copy), dtype=float)
            except Exception:  # a step that refuses missing values: the other change decides
                continue
            changed |= ~np.isclose(out, reference, equal_nan=True).all(axis=0)
        for feature in np.flatnonzero(changed):
            if owners[feature] is None:
                owners[feature] = index
    return owners


def _sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    return frame if len(frame) <= rows else frame.sample(rows, random_state=seed)


def global_attributions(model: TrainedModel, frame: pd.DataFrame) -> dict[str, float]:
    """Mean |SHAP value| per input column over the rows of ``frame`` (a seeded sample of
    2,000 rows when it has more), largest first.

    For classifiers with more than two classes, a row's attribution is summed over the classes.
    """
    return global_attributions_and_method(model, frame)[0]


def global_attributions_and_method(
    model: TrainedModel, frame: pd.DataFrame
) -> tuple[dict[str, float], str, str]:
    """:func:`global_attributions`, with how the SHAP values were computed and their units."""
    values, method, units = shap_by_column(model, _sample(frame, GLOBAL_ROWS))
    strength = np.abs(values).sum(axis=1).mean(axis=0)
    order = np.argsort(-strength, kind="stable")
    return {str(model.input_columns[i]): float(strength[i]) for i in order}, method, units


def row_attributions(
    model: TrainedModel, frame: pd.DataFrame, *, top: int = TOP_CONTRIBUTIONS, encoded: Any = None
) -> tuple[list[dict[str, Any]], str, str]:
    """Each row's ``top`` largest contributions: ``{"column", "value", "attribution"}``, the
    attribution being the column's SHAP value towards the predicted class (the positive class
    for binary classifiers) or the predicted value; and the method and units. ``encoded``: the
    model's features of ``frame``, when already computed."""
    values, method, units = shap_by_column(model, frame, encoded=encoded)
    if values.shape[1] > 1:  # multiclass: towards the class the model predicts
        scores = model.predict_proba(frame) if encoded is None else model.score_encoded(encoded)
        chosen = scores.argmax(axis=1)
        values = values[np.arange(len(chosen)), chosen]
    else:
        values = values[:, 0]
    out = []
    inputs = frame[model.input_columns].to_numpy(dtype=object)  # cells without pandas' cost
    for row, contributions in enumerate(values):
        order = np.argsort(-np.abs(contributions), kind="stable")[:top]
        out.append(
            {
                "contributions": [
                    {
                        "column": str(model.input_columns[i]),
                        "value": _plain(inputs[row, i]),
                        "attribution": round(float(contributions[i]), 6),
                    }
                    for i in order
                ]
            }
        )
    return out, method, units


def _plain(value: Any) -> Any:
    """A JSON-ready cell: numpy scalars as Python ones, missing values as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def attribution_ndcg(baseline: dict[str, float], current: dict[str, float]) -> float:
    """How well the current ranking of the features keeps the baseline's: NDCG = DCG / iDCG,
    DCG = Σ_i a(f′_i) / log2(i + 1) over the features f′ ranked by current attribution,
    iDCG the same over the baseline's own ranking, a(f) the baseline attribution (SageMaker's
    feature attribution drift). 1 is the same order; features the current attributions lack
    rank last.

    Examples
    --------
    >>> round(attribution_ndcg({"a": 3, "b": 2, "c": 1}, {"a": 1, "b": 3, "c": 2}), 4)
    0.8675
    """
    features = sorted(baseline, key=lambda f: (-baseline[f], f))
    ideal = np.array([baseline[f] for f in features], dtype=float)
    if ideal.size == 0 or not np.isfinite(ideal).all() or (ideal < 0).any() or ideal.sum() == 0:
        raise DataError(
            "The baseline attributions must be non-negative numbers, not all 0, for at least "
            "one feature (the mean |SHAP| per column of the baseline data).",
            code="clarify.bad-attributions",
        )
    ranked = sorted(features, key=lambda f: (-float(current.get(f, 0.0)), features.index(f)))
    discounts = 1 / np.log2(np.arange(2, len(features) + 2))
    dcg = float(np.sum(np.array([baseline[f] for f in ranked]) * discounts))
    return dcg / float(np.sum(ideal * discounts))


def check_attribution(
    model: TrainedModel,
    baseline_attributions: dict[str, float],
    frame: pd.DataFrame,
    *,
    threshold: float = DEFAULT_NDCG_THRESHOLD,
) -> tuple[dict[str, float], list[dict], dict[str, float]]:
    """Attribution drift of a window of traffic against the baseline's attributions.

    Returns
    -------
    (metrics, violations, current)
        ``metrics``: ``attribution.ndcg`` and ``attribution.<column>`` (the window's mean
        |SHAP|); ``violations``: one ``attribution_drift_check`` when NDCG is below
        ``threshold``; ``current``: the window's attributions.
    """
    if not 0 < threshold <= 1:
        raise ConfigError(
            f"The NDCG threshold must be in (0, 1]; got {threshold!r}.",
            code="clarify.bad-threshold",
        )
    current = global_attributions(model, frame)
    ndcg = attribution_ndcg(baseline_attributions, current)
    metrics = {"attribution.ndcg": ndcg} | {f"attribution.{c}": v for c, v in current.items()}
    violations = []
    if ndcg < threshold:
        top = 5
        violations.append(
            {
                "column": None,
                "check": "attribution_drift_check",
                "observed": ndcg,
                "expected": f"NDCG >= {threshold:g}",
                "evidence": {
                    "baseline_top": list(
                        sorted(baseline_attributions, key=lambda f: -baseline_attributions[f])
                    )[:top],
                    "current_top": list(current)[:top],
                    "rows": len(frame),
                },
            }
        )
    return metrics, violations, current
