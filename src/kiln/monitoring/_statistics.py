"""The baseline's two documents: the statistics of a table and the constraints suggested from them.

Both are plain JSON (no numpy types, no NaN: missing numbers are ``null``), readable and editable
by a person, and shaped like SageMaker Model Monitor's ``statistics.json`` and
``constraints.json`` (docs/monitoring-drift.md maps them field by field).

The reference of a drift check is stored only as these documents, never as raw rows, so every
numeric column keeps a quantile sketch fine enough to compute the Kolmogorov-Smirnov distance,
the PSI and the Wasserstein distance against later: its 1,001 quantiles at probabilities 0, 0.001,
..., 1 (the "inverted CDF" ones, actual values of the column). They give the column's CDF to
within 0.001 at any point, exactly at repeated values (integer counts), whatever the shape;
a fixed-bin histogram would lose heavy tails and need bins chosen before the current data is seen.
Categorical columns keep the counts of their 1,000 most frequent values and one count of the rest.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kiln.data import FALSE_WORDS, META_COLUMNS, TRUE_WORDS
from kiln.errors import ConfigError

__all__ = [
    "DRIFT_STATISTICS",
    "QUANTILES",
    "TOP_CATEGORIES",
    "dataset_statistics",
    "suggest_constraints",
    "validate_constraints",
]

FORMAT_VERSION = 1
# Points of the quantile sketch: probabilities 0, 1/1000, ..., 1.
QUANTILES = 1001
# Categories whose counts a String or Boolean column keeps; the rest are one "other" count.
TOP_CATEGORIES = 1000
INTEGRAL, FRACTIONAL, STRING, BOOLEAN, UNKNOWN = (
    "Integral",
    "Fractional",
    "String",
    "Boolean",
    "Unknown",
)
INFERRED_TYPES = (INTEGRAL, FRACTIONAL, STRING, BOOLEAN, UNKNOWN)
NUMERIC_TYPES = (INTEGRAL, FRACTIONAL)
CATEGORICAL_TYPES = (STRING, BOOLEAN)
# Columns named so are the model's outputs: their drift is prediction drift.
PREDICTION_PREFIX = "predicted_"

# The drift statistics per kind of column and their default thresholds (effect sizes; a column
# drifts when any statistic with a threshold passes it). See docs/monitoring-drift.md for why.
DRIFT_STATISTICS: dict[str, dict[str, float]] = {
    "numeric": {"ks": 0.1, "wasserstein": 0.1, "psi": 0.1},
    "categorical": {"linf": 0.1, "jensen_shannon": 0.1, "chi_square": 0.1},
}
# Defaults of the checks other than drift (SageMaker's names where it has the check).
DEFAULT_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 0.1,  # share of values not of the baseline's type
    "domain_content_threshold": 0.1,  # share of values outside the column's domain
    "range_check_threshold": 0.01,  # share of values outside [min, max]
    "completeness_tolerance": 0.02,  # suggested completeness = observed minus this
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        # A drift (and a share past a constraint's limit) must also be significant: the chance
        # that sampling noise alone flags any column in a run is at most this (Bonferroni over
        # the columns compared); null decides on the effect sizes and limits alone.
        "significance": 0.01,
        "thresholds": DRIFT_STATISTICS,
    },
}
# The keys of a column's entry in the constraints document.
_FEATURE_KEYS = {
    "name",
    "inferred_type",
    "prediction",
    "completeness",
    "num_constraints",
    "string_constraints",
    "drift",
}
_CONFIG_SHARES = (
    "datatype_check_threshold",
    "domain_content_threshold",
    "range_check_threshold",
    "completeness_tolerance",
)


def _json_float(value: Any) -> float | None:
    """A JSON-ready float: numpy to Python, NaN and infinities to None."""
    number = float(value)
    return number if math.isfinite(number) else None


def _is_boolean_text(values: pd.Series) -> bool:
    """Values that are all bools or true/false words (``str(True)`` is "True")."""
    distinct = values.unique()
    if len(distinct) > 2 * len(TRUE_WORDS):
        return False
    words = {str(v).strip().lower() for v in distinct}
    return bool(words) and words <= (TRUE_WORDS | FALSE_WORDS)


def infer_type(values: pd.Series) -> str:
    """The SageMaker-style type of a column from its dtype and non-missing values: Integral
    (whole numbers, also in a float column with gaps), Fractional, Boolean (bools, or text of
    only yes/no, true/false words), String, or Unknown (dates and times, which are not
    compared)."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values.dtype):
        return BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(
        values.dtype
    ):
        return UNKNOWN
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _numeric_kind(present.to_numpy(dtype=float))
    # Text stays text even when it holds digits (codes, zip codes): kiln's data sets already
    # hold numbers as numbers, and a current window is read with the baseline's types.
    if present.empty:
        return STRING
    if _is_boolean_text(present):
        return BOOLEAN
    return STRING


def _numeric_kind(numbers: np.ndarray) -> str:
    finite = numbers[np.isfinite(numbers)]
    return INTEGRAL if np.array_equal(finite, np.floor(finite)) else FRACTIONAL


def as_numbers(values: pd.Series) -> tuple[np.ndarray, int]:
    """The column's present values as float64, and how many present values are not numbers."""
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        return numbers[~np.isnan(numbers)], 0
    present = values.dropna()
    numbers = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
    parsed = ~np.isnan(numbers)
    return numbers[parsed], int(len(numbers) - parsed.sum())


def numeric_statistics(ordered: np.ndarray, *, missing: int) -> dict:
    """Present and missing counts, mean, sum, sd, min, max and the quantile sketch of sorted
    finite numbers."""
    present = int(ordered.size)
    stats: dict[str, Any] = {
        "common": {"num_present": present, "num_missing": int(missing)},
        "mean": None,
        "sum": 0.0,
        "std_dev": None,
        "min": None,
        "max": None,
        "quantiles": None,
    }
    if present == 0:
        return stats
    total = float(ordered.sum())
    stats.update(
        mean=_json_float(total / present),
        sum=_json_float(total),
        std_dev=_json_float(ordered.std()),
        min=_json_float(ordered[0]),
        max=_json_float(ordered[-1]),
        quantiles=sketch(ordered),
    )
    return stats


def sketch(ordered: np.ndarray) -> dict:
    """The 1,001 inverted-CDF quantiles of sorted values: the smallest value whose CDF reaches
    each probability k/1000."""
    probabilities = np.arange(QUANTILES) / (QUANTILES - 1)
    positions = np.maximum(np.ceil(probabilities * ordered.size).astype(np.int64) - 1, 0)
    return {
        "method": "inverted_cdf",
        "probabilities": f"0 to 1 in steps of 1/{QUANTILES - 1}",
        # 9 significant digits: a readable, half-size document that changes no statistic.
        "values": [float(f"{v:.9g}") for v in ordered[positions]],
    }


def category_counts(values: pd.Series, inferred_type: str) -> tuple[pd.Series, int]:
    """Counts of the column's present values by label (text; Boolean ones "true"/"false"), most
    frequent first, and how many present values are not of a Boolean column's type."""
    counts = values.value_counts(sort=False, dropna=True)  # count first: few labels to convert
    if inferred_type == BOOLEAN:
        words = pd.Index(counts.index.map(lambda v: str(v).strip().lower()))
        labels = np.where(
            words.isin(TRUE_WORDS | {"1", "1.0"}),
            "true",
            np.where(words.isin(FALSE_WORDS | {"0", "0.0"}), "false", ""),
        )
    else:
        labels = counts.index.map(str).to_numpy()
    counts = counts.groupby(labels).sum().sort_values(ascending=False, kind="stable")
    mismatches = int(counts.get("", 0)) if inferred_type == BOOLEAN else 0
    if inferred_type == BOOLEAN:
        counts = counts.drop("", errors="ignore")
    return counts, mismatches


def string_statistics(counts: pd.Series, *, missing: int) -> dict:
    """Present and missing counts, distinct count and the counts of the most frequent values."""
    kept = counts.iloc[:TOP_CATEGORIES]
    return {
        "common": {"num_present": int(counts.sum()), "num_missing": int(missing)},
        "distinct_count": int(counts.size),
        "frequencies": {str(k): int(v) for k, v in kept.items()},
        "other_count": int(counts.iloc[TOP_CATEGORIES:].sum()),
    }


@dataclass
class ColumnSummary:
    """One column read as a type: its statistics entry, and what the checks need beside it."""

    entry: dict
    mismatches: int  # present values not of the type
    ordered: np.ndarray | None = None  # numeric: the sorted values
    counts: pd.Series | None = None  # categorical: every label's count


def summarise_column(name: str, values: pd.Series, inferred_type: str) -> ColumnSummary:
    """One column's entry of the statistics document, read as ``inferred_type``."""
    rows = len(values)
    missing = int(values.isna().sum())
    entry: dict[str, Any] = {"name": str(name), "inferred_type": inferred_type}
    if str(name).startswith(PREDICTION_PREFIX):
        entry["prediction"] = True
    # Completeness is the share of values present (of the column's type or not), as SageMaker's.
    entry["completeness"] = _json_float((rows - missing) / rows) if rows else None
    summary = ColumnSummary(entry, 0)
    if inferred_type in NUMERIC_TYPES:
        numbers, summary.mismatches = as_numbers(values)
        finite = np.isfinite(numbers)
        if inferred_type == INTEGRAL:
            finite &= numbers == np.floor(numbers)
        if not finite.all():
            summary.mismatches += int((~finite).sum())
            numbers = numbers[finite]
        summary.ordered = np.sort(numbers)
        entry["numerical_statistics"] = numeric_statistics(summary.ordered, missing=missing)
    elif inferred_type in CATEGORICAL_TYPES:
        summary.counts, summary.mismatches = category_counts(values, inferred_type)
        entry["string_statistics"] = string_statistics(summary.counts, missing=missing)
    return summary


def monitored_columns(frame: pd.DataFrame) -> list[str]:
    """The columns the monitor compares: all but data capture's own (inference id, time, ...)."""
    return [str(c) for c in frame.columns if c not in META_COLUMNS]


def check_not_empty(frame: pd.DataFrame, what: str) -> None:
    if len(frame) == 0 or not monitored_columns(frame):
        shape = "no rows" if len(frame) == 0 else "no columns besides data capture's own"
        raise ConfigError(
            f"The {what} has {shape}, so there are no statistics to compute. Pick a data set "
            "version (or a capture window) that has rows, e.g. a wider --window, or check that "
            "the endpoint captures traffic.",
            code="monitor.empty-data",
        )


def dataset_statistics(frame: pd.DataFrame) -> dict:
    """The statistics document of a table (SageMaker's statistics.json, plus a quantile sketch).

    Parameters
    ----------
    frame
        The reference (a baseline's data, with the model's ``predicted_*`` columns) or any table.

    Returns
    -------
    dict
        ``{"version": 1, "dataset": {"item_count": n}, "features": [...]}``, one entry per column
        with ``name``, ``inferred_type``, ``completeness`` and ``numerical_statistics`` or
        ``string_statistics``; ``"prediction": true`` on ``predicted_*`` columns.

    Examples
    --------
    >>> stats = dataset_statistics(pd.DataFrame({"age": [30, 41, None]}))
    >>> stats["features"][0]["inferred_type"], stats["features"][0]["completeness"]
    ('Integral', 0.6666666666666666)
    """
    check_not_empty(frame, "table")
    features = [
        summarise_column(name, frame[name], infer_type(frame[name])).entry
        for name in monitored_columns(frame)
    ]
    return {"version": FORMAT_VERSION, "dataset": {"item_count": len(frame)}, "features": features}


def suggest_constraints(statistics: dict) -> dict:
    """The constraints document suggested from a statistics document.

    Per column: its type, a completeness ``completeness_tolerance`` below the one observed,
    for numbers the observed range (``num_constraints``: min, max, is_non_negative), for text and
    booleans the values seen (``string_constraints.domains``, only when all of them were kept and
    the reference saw nearly every value the column takes: see ``UNSEEN_VALUE_CHANCE``).
    ``monitoring_config`` holds the check thresholds and the default drift threshold per
    statistic; a column overrides them with its own ``"drift": {"psi": 0.3}`` entry (``null``
    turns a statistic off for that column).
    """
    tolerance = DEFAULT_CONFIG["completeness_tolerance"]
    features = []
    for feature in statistics.get("features", []):
        entry: dict[str, Any] = {"name": feature["name"], "inferred_type": feature["inferred_type"]}
        if feature.get("prediction"):
            entry["prediction"] = True
        completeness = feature.get("completeness")
        if completeness is not None:
            entry["completeness"] = round(max(0.0, completeness - tolerance), 6)
        numeric = feature.get("numerical_statistics")
        if numeric and numeric.get("min") is not None:
            entry["num_constraints"] = {
                "is_non_negative": numeric["min"] >= 0,
                "min": numeric["min"],
                "max": numeric["max"],
            }
        strings = feature.get("string_statistics")
        if strings and strings.get("other_count", 0) == 0 and _domain_is_complete(strings):
            entry["string_constraints"] = {"domains": sorted(strings.get("frequencies", {}))}
        features.append(entry)
    return {"version": FORMAT_VERSION, "features": features, "monitoring_config": _default_config()}


# The largest chance that a new row holds a value the reference never saw (Good-Turing: the share
# of the reference's values seen only once) for its values to be suggested as the column's domain.
UNSEEN_VALUE_CHANCE = 0.001


def _domain_is_complete(strings: dict) -> bool:
    """Whether the reference saw (nearly) every value the column takes: otherwise new traffic
    holds values it never saw by chance, and a domain would flag them as new categories."""
    counts = list(strings.get("frequencies", {}).values())
    total = sum(counts)
    singletons = sum(1 for c in counts if c == 1)
    return total > 0 and singletons / total <= UNSEEN_VALUE_CHANCE


def _default_config() -> dict:
    return copy.deepcopy(DEFAULT_CONFIG)


def _bad(message: str, field: str | None = None) -> ConfigError:
    return ConfigError(
        f"{message} Fix the constraints document (see docs/monitoring-drift.md), or suggest it "
        "again from the baseline's statistics.",
        code="monitor.bad-constraints",
        field=field,
    )


def _check_share(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _bad(f"{where} must be a number in [0, 1]. Got {value!r}.", where)


def _check_thresholds(thresholds: Any, where: str, kinds: tuple[str, ...]) -> None:
    if not isinstance(thresholds, dict):
        raise _bad(f"{where} must be an object of statistic: threshold. Got {thresholds!r}.", where)
    known = {s for kind in kinds for s in DRIFT_STATISTICS[kind]}
    for statistic, value in thresholds.items():
        if statistic not in known:
            raise _bad(
                f"{where} names the statistic {statistic!r}, which is not one of "
                f"{', '.join(sorted(known))}.",
                where,
            )
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise _bad(
                f"The threshold {where}.{statistic} must be a number >= 0, or null to turn the "
                f"statistic off. Got {value!r}.",
                where,
            )


def validate_constraints(document: dict) -> dict:
    """The constraints document checked and completed with the default ``monitoring_config``
    settings it leaves out; a document that cannot be used raises ConfigError
    ``monitor.bad-constraints`` naming the wrong field and value."""
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise _bad(f"The constraints document must be a JSON object. Got a {kind}.")
    features = document.get("features")
    if not isinstance(features, list):
        raise _bad('The constraints document needs a "features" list.', "features")
    checked = copy.deepcopy(document)
    seen: set[str] = set()
    for i, feature in enumerate(checked["features"]):
        where = f"features[{i}]"
        if not isinstance(feature, dict) or not isinstance(feature.get("name"), str):
            raise _bad(f'{where} must be an object with a "name". Got {feature!r}.', where)
        name = feature["name"]
        where = f"features[{name!r}]"
        if name in seen:
            raise _bad(f"The column {name!r} has two entries in features.", where)
        seen.add(name)
        unknown = sorted(set(feature) - _FEATURE_KEYS)
        if unknown:
            raise _bad(
                f"{where} has the key {unknown[0]!r}, which is not one of "
                f"{', '.join(sorted(_FEATURE_KEYS))}.",
                where,
            )
        kind = feature.get("inferred_type")
        if kind not in INFERRED_TYPES:
            raise _bad(
                f"{where}.inferred_type must be one of {', '.join(INFERRED_TYPES)}. Got {kind!r}.",
                where,
            )
        if feature.get("completeness") is not None:
            _check_share(feature["completeness"], f"{where}.completeness")
        ranges = feature.get("num_constraints")
        if ranges is not None:
            if not isinstance(ranges, dict):
                raise _bad(f"{where}.num_constraints must be an object. Got {ranges!r}.", where)
            low, high = ranges.get("min"), ranges.get("max")
            for bound, value in (("min", low), ("max", high)):
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    raise _bad(f"{where}.num_constraints.{bound} must be a number. Got {value!r}.")
            if low is not None and high is not None and low > high:
                raise _bad(f"{where}.num_constraints has min {low} above max {high}.", where)
        domains = (feature.get("string_constraints") or {}).get("domains")
        if domains is not None and not isinstance(domains, list):
            raise _bad(f"{where}.string_constraints.domains must be a list. Got {domains!r}.")
        if "drift" in feature:
            kinds = ("numeric",) if kind in NUMERIC_TYPES else ("categorical",)
            _check_thresholds(feature["drift"], f"{where}.drift", kinds)
    config = checked.get("monitoring_config", {})
    if not isinstance(config, dict):
        raise _bad(f"monitoring_config must be an object. Got {config!r}.", "monitoring_config")
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise _bad(
            f"monitoring_config has no setting {unknown[0]!r}; its settings are "
            f"{', '.join(DEFAULT_CONFIG)}. The default drift thresholds are at "
            "monitoring_config.distribution_constraints.thresholds.numeric.ks (or .categorical."
            "linf, ...); one column's are in its entry, as features[...].drift.psi.",
            f"monitoring_config.{unknown[0]}",
        )
    merged = _default_config() | config
    for key in _CONFIG_SHARES:
        _check_share(merged[key], f"monitoring_config.{key}")
    distribution = merged.get("distribution_constraints")
    if not isinstance(distribution, dict):
        raise _bad(
            f"monitoring_config.distribution_constraints must be an object. Got {distribution!r}."
        )
    significance = distribution.get("significance", 0.01)
    if significance is not None and (
        isinstance(significance, bool)
        or not isinstance(significance, int | float)
        or not 0 < significance <= 1
    ):
        raise _bad(
            "monitoring_config.distribution_constraints.significance must be a number in (0, 1] "
            "(the chance per run that noise alone flags a column), or null to decide on the "
            f"effect sizes alone. Got {significance!r}.",
            "monitoring_config.distribution_constraints.significance",
        )
    thresholds = distribution.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise _bad(
            f"monitoring_config.distribution_constraints.thresholds must be an object. "
            f"Got {thresholds!r}."
        )
    for kind, values in thresholds.items():
        if kind not in DRIFT_STATISTICS:
            raise _bad(
                f"monitoring_config.distribution_constraints.thresholds has the kind {kind!r}; "
                "the kinds are numeric and categorical."
            )
        _check_thresholds(
            values, f"monitoring_config.distribution_constraints.thresholds.{kind}", (kind,)
        )
    distribution["thresholds"] = {
        kind: DRIFT_STATISTICS[kind] | thresholds.get(kind, {}) for kind in DRIFT_STATISTICS
    }
    merged["distribution_constraints"] = DEFAULT_CONFIG["distribution_constraints"] | distribution
    checked["monitoring_config"] = merged
    if checked.get("model_quality") is not None:
        _check_model_quality(checked["model_quality"])
    if checked.get("attribution") is not None:
        _check_attribution(checked["attribution"])
    return checked


_COMPARISONS = ("LessThanThreshold", "GreaterThanThreshold")


def _check_model_quality(section: Any) -> None:
    """The model-quality thresholds: known metrics, each a number and a comparison (a bad one
    would fail every model-quality run instead of this edit)."""
    from kiln.problems import BINARY, MULTICLASS, REGRESSION, metric_names

    if not isinstance(section, dict):
        raise _bad(f"model_quality must be an object. Got {section!r}.", "model_quality")
    known = metric_names(BINARY) | metric_names(MULTICLASS) | metric_names(REGRESSION)
    for metric, rule in section.items():
        where = f"model_quality.{metric}"
        if metric not in known:
            raise _bad(
                f"model_quality names the metric {metric!r}, which a model-quality run does not "
                f"compute; its metrics are {', '.join(sorted(known))}.",
                where,
            )
        if not isinstance(rule, dict):
            raise _bad(f'{where} must be an object with a "threshold". Got {rule!r}.', where)
        threshold = rule.get("threshold")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise _bad(f"{where}.threshold must be a number. Got {threshold!r}.", where)
        comparison = rule.get("comparison", _COMPARISONS[0])
        if comparison not in _COMPARISONS:
            raise _bad(
                f"{where}.comparison must be one of {', '.join(_COMPARISONS)}. Got {comparison!r}.",
                where,
            )


def _check_attribution(section: Any) -> None:
    if not isinstance(section, dict):
        raise _bad(f"attribution must be an object. Got {section!r}.", "attribution")
    threshold = section.get("ndcg_threshold", 0.9)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise _bad(
            f"attribution.ndcg_threshold must be a number in [0, 1]. Got {threshold!r}.",
            "attribution.ndcg_threshold",
        )
    _check_share(threshold, "attribution.ndcg_threshold")
