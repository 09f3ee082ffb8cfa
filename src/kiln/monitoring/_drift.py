"""The data-quality check of a monitor run: the current data against a baseline's statistics and
constraints, with drift per column.

The reference is only its statistics document, so every drift statistic is computed from two
sketches: the reference's, and the current column's, summarised the same way (1,001 quantiles of
a numeric column, the counts of a categorical one). A column's CDF is known to within 0.001 from
its quantiles, which bounds the error of the KS distance and the PSI shares by about 0.002.

Decisions compare effect sizes with thresholds (KS distance, Wasserstein distance over the
reference's standard deviation, PSI; L-infinity, Jensen-Shannon distance, bias-corrected
Cramér's V of the chi-square test), never a p-value alone: with a million rows a p-value flags
differences nobody cares about. The column's test (KS, chi-square) only vetoes: an effect that the
test cannot tell from chance is a small window's noise. ``significance`` (0.01) is per run: each of
the k columns compared is tested at 0.01 / k (Bonferroni), and the constraint checks' shares
(completeness, type mismatches, out-of-range values, new categories) by a binomial test at the
same level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from kiln.monitoring._statistics import (
    CATEGORICAL_TYPES,
    FORMAT_VERSION,
    NUMERIC_TYPES,
    ColumnSummary,
    check_not_empty,
    infer_type,
    monitored_columns,
    summarise_column,
    validate_constraints,
)

__all__ = [
    "QualityResult",
    "categorical_drift",
    "check_data_quality",
    "numeric_drift",
]

# A share below this counts as this in the PSI (an empty bin would make it infinite).
PSI_FLOOR = 1e-4
PSI_BINS = 10
# Categories expected fewer times than this in the smaller sample are pooled (see _pool_rare).
MIN_EXPECTED = 5
_OTHER = "\x00other"  # the bucket of values outside the reference's kept categories
# A column drifts when a statistic passes its effect-size threshold AND its kind's test (KS for
# numbers, chi-square for categories) says the difference is no accident. The effect size keeps a
# million rows from flagging differences nobody cares about; the test keeps an hour of 400 rows
# from flagging sampling noise (a Wasserstein distance of 0.1 sd is chance at that size). The
# level is per run: the chance that sampling noise alone passes any column's test is at most this
# (Bonferroni: each of k compared columns is tested at level / k); the constraints'
# "monitoring_config.distribution_constraints.significance" (default 0.01) sets it.


@dataclass
class QualityResult:
    """The outcome of one data-quality check (see docs/monitoring-drift.md for every field)."""

    statistics: dict  # the current data's statistics document
    metrics: dict[str, float] = field(default_factory=dict)  # flat numeric names, for alarms
    violations: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)  # per column and statistic

    def to_dict(self) -> dict:
        return {
            "statistics": self.statistics,
            "metrics": self.metrics,
            "violations": self.violations,
            "drift": self.drift,
        }


def _cdf(quantiles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A column's CDF at ``points`` from its inverted-CDF quantiles: the largest probability
    k/1000 whose quantile is at most the point (the true CDF is within 0.001 above it)."""
    index = np.searchsorted(quantiles, points, side="right") - 1
    return np.maximum(index, 0) / (len(quantiles) - 1) * (index >= 0)


def numeric_drift(reference: dict, current: dict) -> dict[str, tuple[float, float | None]]:
    """KS distance (with its p-value), Wasserstein distance over the reference's standard
    deviation, and PSI on the reference's deciles, from two ``numerical_statistics`` entries.

    Returns ``{"ks": (value, p_value), "wasserstein": (value, None), "psi": (value, None)}``.
    """
    ref_q = np.asarray(reference["quantiles"]["values"], dtype=float)
    cur_q = np.asarray(current["quantiles"]["values"], dtype=float)
    points = np.union1d(ref_q, cur_q)
    ks = float(np.max(np.abs(_cdf(ref_q, points) - _cdf(cur_q, points))))
    n = reference["common"]["num_present"]
    m = current["common"]["num_present"]
    effective = round(n * m / (n + m))
    ks_p = float(sps.kstwo.sf(ks, max(effective, 1)))

    # W1 = the integral over p of |Q_ref(p) - Q_cur(p)|, by the trapezoid rule on the grid.
    gaps = np.abs(ref_q - cur_q)
    wasserstein = float((gaps[1:] + gaps[:-1]).sum() / 2 / (len(gaps) - 1))
    scale = reference.get("std_dev") or 0.0
    if scale > 0:
        wasserstein /= scale

    step = (len(ref_q) - 1) // PSI_BINS
    edges = np.unique(ref_q[step : len(ref_q) - 1 : step][: PSI_BINS - 1])
    ref_share = np.diff(np.concatenate([[0.0], _cdf(ref_q, edges), [1.0]]))
    cur_share = np.diff(np.concatenate([[0.0], _cdf(cur_q, edges), [1.0]]))
    return {
        "ks": (ks, ks_p),
        "wasserstein": (wasserstein, None),
        "psi": (population_stability(ref_share, cur_share), None),
    }


def population_stability(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI = sum (current - reference) * ln(current / reference) over bins of shares, with
    empty bins counted as ``PSI_FLOOR``."""
    ref = np.maximum(reference, PSI_FLOOR)
    cur = np.maximum(current, PSI_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def categorical_drift(reference: dict, current: dict) -> dict[str, tuple[float, float | None]]:
    """L-infinity distance, Jensen-Shannon distance (base 2, in [0, 1], less its expectation
    with no change) and the chi-square test's bias-corrected Cramér's V (with the test's
    p-value) between the category shares of two ``string_statistics`` entries. Values outside
    the reference's kept categories (and the reference's own "other" count) are one "other"
    bucket, which also takes the categories too rare to compare (expected fewer than 5 times in
    the smaller sample)."""
    ref_counts = dict(reference.get("frequencies", {}))
    ref_counts[_OTHER] = reference.get("other_count", 0)
    cur_counts = {_OTHER: current.get("other_count", 0)}
    for label, count in current.get("frequencies", {}).items():
        key = label if label in ref_counts else _OTHER
        cur_counts[key] = cur_counts.get(key, 0) + count
    labels = list(ref_counts)
    table = np.array(
        [[ref_counts[k] for k in labels], [cur_counts.get(k, 0) for k in labels]], dtype=float
    )
    table = _pool_rare(table)
    ref_share = table[0] / table[0].sum()
    cur_share = table[1] / table[1].sum()
    linf = float(np.max(np.abs(ref_share - cur_share)))
    middle = (ref_share + cur_share) / 2
    divergence = 0.5 * (_kl(ref_share, middle) + _kl(cur_share, middle))
    # Less its expectation when nothing changed (JSD ~ chi2 (1/n + 1/m) / 8 nats, and chi2's
    # expectation is its degrees of freedom): two samples of many categories otherwise differ by
    # chance alone, more so the fewer rows there are.
    dof = table.shape[1] - 1
    n, m = table.sum(axis=1)
    divergence -= dof * (1 / n + 1 / m) / (8 * math.log(2))
    jensen_shannon = math.sqrt(max(divergence, 0.0))
    if table.shape[1] < 2:
        return {
            "linf": (linf, None),
            "jensen_shannon": (jensen_shannon, None),
            "chi_square": (0.0, 1.0),
        }
    total = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / total
    chi2 = float(((table - expected) ** 2 / expected).sum())
    p_value = float(sps.chi2.sf(chi2, dof))
    # Cramér's V of a 2 x k table is sqrt(chi2 / N); subtracting the degrees of freedom (chi2's
    # expectation when nothing changed) keeps many rare categories from reading as drift.
    cramers_v = math.sqrt(max(chi2 - dof, 0.0) / total)
    return {
        "linf": (linf, None),
        "jensen_shannon": (jensen_shannon, None),
        "chi_square": (cramers_v, p_value),
    }


def _pool_rare(table: np.ndarray) -> np.ndarray:
    """The 2 x k count table (reference, current; the last column the "other" bucket) with the
    categories too rare to compare pooled into "other": those expected fewer than
    ``MIN_EXPECTED`` times in the smaller of the two samples. Without it a column of 1,000
    categories reads as drifted on two draws of the same 5,000 rows (every rare category's share
    is noise), and the chi-square test needs expected counts of about 5 anyway."""
    smaller = table.sum(axis=1).min()
    shares = table.sum(axis=0) / table.sum()
    rare = shares * smaller < MIN_EXPECTED
    rare[-1] = False
    if rare.any():
        pooled = table[:, rare].sum(axis=1)
        table = np.column_stack([table[:, ~rare][:, :-1], table[:, -1] + pooled])
    return table[:, table.sum(axis=0) > 0]


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """Kullback-Leibler divergence in bits, 0 log 0 = 0."""
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def _thresholds(config: dict, feature: dict, kind: str) -> dict[str, float | None]:
    defaults = config["distribution_constraints"]["thresholds"][kind]
    return defaults | feature.get("drift", {})


def _violation(column: str, check: str, observed: Any, expected: Any, **evidence: Any) -> dict:
    return {
        "column": column,
        "check": check,
        "observed": observed,
        "expected": expected,
        "evidence": evidence,
    }


def check_data_quality(
    baseline_statistics: dict, constraints: dict, current: pd.DataFrame
) -> QualityResult:
    """The current data checked against a baseline: types, completeness, ranges, categories,
    missing and extra columns, and drift per column.

    Parameters
    ----------
    baseline_statistics
        The reference's statistics document (:func:`dataset_statistics`).
    constraints
        The constraints document (:func:`suggest_constraints`, possibly edited); checked first.
    current
        The current data: a capture window's inputs and ``predicted_*`` outputs, or a data set.

    Returns
    -------
    QualityResult
        The current data's statistics, flat metrics, violations and the drift table.
    """
    constraints = validate_constraints(constraints)
    check_not_empty(current, "current data")
    config = constraints["monitoring_config"]
    evaluate = config.get("evaluate_constraints", "Enabled") == "Enabled"
    compare = config["distribution_constraints"].get("perform_comparison", "Enabled") == "Enabled"
    rules = {f["name"]: f for f in constraints["features"]}
    reference = {f["name"]: f for f in baseline_statistics.get("features", [])}
    present = monitored_columns(current)
    rows = len(current)
    result = QualityResult(
        {"version": FORMAT_VERSION, "dataset": {"item_count": rows}, "features": []}
    )
    metrics = result.metrics
    metrics["rows"] = float(rows)
    missing_columns = [name for name in reference if name not in current.columns]
    extra_columns = [name for name in present if name not in reference]
    for name in missing_columns if evaluate else []:
        result.violations.append(
            _violation(
                name,
                "missing_column_check",
                "absent",
                "present",
                baseline_completeness=reference[name].get("completeness"),
            )
        )
    for name in extra_columns if evaluate else []:
        result.violations.append(
            _violation(name, "extra_column_check", "present", "absent (not in the baseline)")
        )
    drifted: list[str] = []
    compared_columns = sum(1 for name in present if name in reference)
    significance = config["distribution_constraints"].get("significance")
    level = None if significance is None else significance / max(compared_columns, 1)
    for name in present:
        if name not in reference:
            kind = infer_type(current[name])
            result.statistics["features"].append(summarise_column(name, current[name], kind).entry)
            continue
        ref = reference[name]
        rule = rules.get(name, {"name": name, "inferred_type": ref["inferred_type"]})
        kind = rule.get("inferred_type") or ref["inferred_type"]
        summary = summarise_column(name, current[name], kind)
        entry = summary.entry
        result.statistics["features"].append(entry)
        completeness = entry["completeness"] or 0.0
        metrics[f"completeness.{name}"] = completeness
        present_values = rows - int(current[name].isna().sum())
        mismatch_share = summary.mismatches / present_values if present_values else 0.0
        metrics[f"type_mismatch.{name}"] = mismatch_share
        if evaluate:
            result.violations.extend(
                _constraint_violations(name, rule, summary, config, present_values, metrics, level)
            )
        if compare:
            column_drift = _column_drift(name, ref, entry, rule, config, level)
            result.drift.extend(column_drift)
            for item in column_drift:
                metrics[f"drift.{name}.{item['statistic']}"] = item["value"]
            passed = [d for d in column_drift if d["drifted"]]
            if passed:
                drifted.append(name)
                result.violations.append(
                    _violation(
                        name,
                        "baseline_drift_check",
                        {d["statistic"]: d["value"] for d in passed},
                        {d["statistic"]: d["threshold"] for d in passed},
                        prediction=bool(ref.get("prediction")),
                        statistics={
                            d["statistic"]: {"value": d["value"], "p_value": d["p_value"]}
                            for d in column_drift
                        },
                    )
                )
    predictions = [n for n in drifted if reference[n].get("prediction")]
    metrics["drift.num_cols"] = float(len(drifted) - len(predictions))
    metrics["prediction_drift.num_cols"] = float(len(predictions))
    compared = {d["column"] for d in result.drift}
    metrics["drift.share_cols"] = len(drifted) / len(compared) if compared else 0.0
    metrics["missing_columns"] = float(len(missing_columns))
    metrics["extra_columns"] = float(len(extra_columns))
    metrics["violations"] = float(len(result.violations))
    return result


def _constraint_violations(
    name: str,
    rule: dict,
    summary: ColumnSummary,
    config: dict,
    present_values: int,
    metrics: dict[str, float],
    level: float | None,
) -> list[dict]:
    """The constraint checks of one column. Each share must be past its limit by more than
    chance: a window of 200 rows misses 0.95 completeness by sampling alone one time in five, so
    a share counts only when a binomial test at ``level`` says the true share is past the limit
    (the same per-run level as the drift tests)."""
    found = []
    kind = rule["inferred_type"]
    entry = summary.entry
    mismatch_share = summary.mismatches / present_values if present_values else 0.0
    if _past(summary.mismatches, present_values, config["datatype_check_threshold"], level):
        found.append(
            _violation(
                name,
                "data_type_check",
                f"{mismatch_share:.2%} of values are not {kind}",
                f"at most {config['datatype_check_threshold']:.2%}",
                mismatches=summary.mismatches,
                share=mismatch_share,
            )
        )
    required = rule.get("completeness")
    present = rows_present(entry)
    total = present + int(_common(entry).get("num_missing") or 0)
    if required is not None and _past(total - present, total, 1 - required, level):
        found.append(
            _violation(
                name,
                "completeness_check",
                entry["completeness"],
                f">= {required}",
                missing=entry.get("numerical_statistics", entry.get("string_statistics", {}))
                .get("common", {})
                .get("num_missing"),
            )
        )
    ranges = rule.get("num_constraints")
    if ranges and summary.ordered is not None and summary.ordered.size:
        ordered = summary.ordered
        low = ranges.get("min")
        if ranges.get("is_non_negative"):
            low = 0.0 if low is None else max(low, 0.0)
        high = ranges.get("max")
        below = int(np.searchsorted(ordered, low, side="left")) if low is not None else 0
        above = (
            ordered.size - int(np.searchsorted(ordered, high, side="right"))
            if (high is not None)
            else 0
        )
        share = (below + above) / ordered.size
        metrics[f"out_of_range.{name}"] = share
        if _past(below + above, ordered.size, config["range_check_threshold"], level):
            found.append(
                _violation(
                    name,
                    "range_check",
                    f"{share:.2%} of values outside [{_bound(low)}, {_bound(high)}] "
                    f"(min {ordered[0]:.6g}, max {ordered[-1]:.6g})",
                    f"at most {config['range_check_threshold']:.2%}",
                    below=below,
                    above=above,
                    observed_min=float(ordered[0]),
                    observed_max=float(ordered[-1]),
                )
            )
    domains = (rule.get("string_constraints") or {}).get("domains")
    if domains is not None and summary.counts is not None and summary.counts.size:
        counts = summary.counts
        unknown = counts[~counts.index.isin(domains)]
        share = float(unknown.sum() / counts.sum())
        metrics[f"new_categories.{name}"] = share
        if _past(int(unknown.sum()), int(counts.sum()), config["domain_content_threshold"], level):
            found.append(
                _violation(
                    name,
                    "categorical_values_check",
                    f"{share:.2%} of values outside the domain",
                    f"at most {config['domain_content_threshold']:.2%}",
                    new_values={str(k): int(v) for k, v in unknown.iloc[:10].items()},
                    new_distinct=int(unknown.size),
                )
            )
    return found


def _common(entry: dict) -> dict:
    stats = entry.get("numerical_statistics") or entry.get("string_statistics") or {}
    return stats.get("common", {})


def rows_present(entry: dict) -> int:
    """The values a column's statistics entry counts as present."""
    return int(_common(entry).get("num_present") or 0)


def _past(count: int, total: int, limit: float, level: float | None) -> bool:
    """Whether ``count`` of ``total`` is a share above ``limit`` by more than chance: above it,
    and as many or more would happen with a true share of ``limit`` less often than ``level``
    (None: above it is enough)."""
    if total <= 0 or count / total <= limit:
        return False
    if limit <= 0 or level is None:
        return True
    return float(sps.binom.sf(count - 1, total, limit)) < level


def _bound(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def _column_drift(
    name: str, ref: dict, entry: dict, rule: dict, config: dict, level: float | None
) -> list[dict]:
    """The drift rows of one column (none when either side has no values to compare)."""
    kind = ref["inferred_type"]
    if kind in NUMERIC_TYPES:
        before, after = ref.get("numerical_statistics"), entry.get("numerical_statistics")
        if not before or not after or not before.get("quantiles") or not after.get("quantiles"):
            return []
        values, family = numeric_drift(before, after), "numeric"
    elif kind in CATEGORICAL_TYPES:
        before, after = ref.get("string_statistics"), entry.get("string_statistics")
        if not before or not after or not before["common"]["num_present"]:
            return []
        if not after["common"]["num_present"]:
            return []
        values, family = categorical_drift(before, after), "categorical"
    else:
        return []
    thresholds = _thresholds(config, rule, family)
    prediction = bool(ref.get("prediction"))
    # The column's test: every statistic of the column reports its p-value, and none drifts
    # while the two samples could be one distribution (a small window's noise).
    p_value = values["ks" if family == "numeric" else "chi_square"][1]
    distinguishable = level is None or (p_value is not None and p_value < level)
    rows = []
    for statistic, (value, _) in values.items():
        threshold = thresholds.get(statistic)
        rows.append(
            {
                "column": name,
                "kind": family,
                "prediction": prediction,
                "statistic": statistic,
                "value": value,
                "threshold": threshold,
                "p_value": p_value,
                "drifted": threshold is not None and value > threshold and distinguishable,
            }
        )
    return rows
