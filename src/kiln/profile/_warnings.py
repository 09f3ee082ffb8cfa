"""Data-quality warnings, each with the rule that raised it and its evidence.

The thresholds are module constants, documented in docs/profiling.md.
"""

from __future__ import annotations

import numpy as np

from kiln.data import CATEGORICAL, IDENTIFIER, NUMERIC, TEXT
from kiln.profile._format import counted, percent, share

HIGH_CORRELATION = 0.9  # |Pearson r| or |Spearman ρ| at or above
HIGH_ASSOCIATION = 0.9  # Cramér's V between two categorical columns at or above
NEAR_CONSTANT_SHARE = 0.99  # the most frequent value's share of the non-missing values
HIGH_CARDINALITY = 50  # distinct values of a categorical column above
SKEW = 2.0  # |skewness| above
Z_OUTLIER_SHARE = 0.01  # share of values with |z| > 3 above
IQR_OUTLIER_SHARE = 0.05  # share of values outside Q1 − 1.5 IQR … Q3 + 1.5 IQR above
MIN_ID_ROWS = 20  # rows needed before "every value distinct" means identifier-like
IMBALANCE_OF_EVEN = 0.2  # the rarest class below this fraction of an even share 1/k (10 % of 2)
LEAKAGE_SKILL = 0.98  # single-feature skill (accuracy skill or η²) at or above
LEAKAGE_AUC = 0.99  # single-feature ROC-AUC (binary target) at or above
LEAKAGE_SPEARMAN = 0.99  # single-feature |Spearman ρ| (regression target) at or above

KINDS = (
    "high-correlation",
    "constant",
    "near-constant",
    "identifier",
    "high-cardinality",
    "skewed",
    "outliers",
    "duplicate-rows",
    "imbalanced-target",
    "target-leakage",
)


def _warning(kind: str, columns: list[str], message: str, **evidence) -> dict:
    return {"kind": kind, "columns": columns, "message": message, "evidence": evidence}


def column_warnings(column: str, stats: dict, *, arrow_integer_or_string: bool) -> list[dict]:
    """Constant, near-constant, identifier-like, high-cardinality, skew and outlier warnings."""
    out = []
    count, distinct = stats["count"], stats["distinct"]
    if distinct <= 1:
        value = stats["top_values"][0]["value"] if stats["top_values"] else None
        out.append(
            _warning(
                "constant",
                [column],
                (
                    f"{column!r} has no values: every row is missing"
                    if value is None and stats["count"] == 0
                    else f"{column!r} has a single value ({value!r})"
                    + (" besides missing values" if stats["missing"] else "")
                )
                + ": it carries no information.",
                distinct=distinct,
                value=value,
            )
        )
        return out
    top = stats["top_values"][0] if stats["top_values"] else None
    if top and count and top["count"] / count >= NEAR_CONSTANT_SHARE:
        out.append(
            _warning(
                "near-constant",
                [column],
                f"{column!r} is {top['value']!r} in {percent(top['pct'])} of its non-missing "
                f"values (threshold {percent(100 * NEAR_CONSTANT_SHARE)}).",
                value=top["value"],
                share=round(top["count"] / count, 6),
            )
        )
    is_identifier = stats["type"] == IDENTIFIER or (
        arrow_integer_or_string
        and stats["type"] in (NUMERIC, CATEGORICAL, TEXT)
        and count >= MIN_ID_ROWS
        and distinct == count
    )
    if is_identifier:
        out.append(
            _warning(
                "identifier",
                [column],
                f"{column!r} looks like an identifier: all {count:,} non-missing values are "
                "distinct. Leave it out of model inputs.",
                distinct=distinct,
                count=count,
                semantic_type=stats["type"],
            )
        )
    elif stats["type"] == CATEGORICAL and distinct > HIGH_CARDINALITY:
        out.append(
            _warning(
                "high-cardinality",
                [column],
                f"{column!r} has {distinct:,} distinct values (threshold {HIGH_CARDINALITY}); "
                "one-hot encoding it would make many sparse columns.",
                distinct=distinct,
                distinct_pct=stats["distinct_pct"],
            )
        )
    if stats["type"] != NUMERIC or is_identifier or distinct <= 2:
        return out  # skew and outliers mean little for a 0/1 indicator
    skew = stats.get("skewness")
    if skew is not None and abs(skew) > SKEW:
        out.append(
            _warning(
                "skewed",
                [column],
                f"{column!r} is strongly skewed (skewness {skew:.2f}, threshold ±{SKEW}); "
                "a log or power transform may help linear models.",
                skewness=skew,
            )
        )
    z, iqr = stats.get("outliers_z", 0), stats.get("outliers_iqr", 0)
    if count and (z / count > Z_OUTLIER_SHARE or iqr / count > IQR_OUTLIER_SHARE):
        out.append(
            _warning(
                "outliers",
                [column],
                f"{column!r} has {counted(z, 'value')} with |z| > 3 ({share(z, count)}) and "
                f"{iqr:,} outside the 1.5 × IQR fences [{stats['whisker_low']}, "
                f"{stats['whisker_high']}] ({share(iqr, count)}).",
                outliers_z=z,
                outliers_z_share=round(z / count, 6),
                outliers_iqr=iqr,
                outliers_iqr_share=round(iqr / count, 6),
            )
        )
    return out


def correlation_warnings(
    columns: list[str], pearson: np.ndarray, spearman: np.ndarray
) -> list[dict]:
    """Pairs of numeric columns with |Pearson r| or |Spearman ρ| at or above the threshold."""
    out = []
    for i in range(len(columns)):
        for j in range(i + 1, len(columns)):
            r, rho = pearson[i, j], spearman[i, j] if spearman.size else np.nan
            strongest = np.nanmax([abs(r), abs(rho)]) if not (np.isnan(r) and np.isnan(rho)) else 0
            if strongest >= HIGH_CORRELATION:
                out.append(
                    _warning(
                        "high-correlation",
                        [columns[i], columns[j]],
                        f"{columns[i]!r} and {columns[j]!r} are highly correlated "
                        f"(Pearson r {_fmt(r)}, Spearman ρ {_fmt(rho)}; threshold "
                        f"{HIGH_CORRELATION}): one of them may be redundant.",
                        pearson=None if np.isnan(r) else round(float(r), 6),
                        spearman=None if np.isnan(rho) else round(float(rho), 6),
                    )
                )
    return sorted(out, key=lambda w: -max(abs(w["evidence"]["pearson"] or 0), 0))


def association_warnings(columns: list[str], cramers_v: np.ndarray) -> list[dict]:
    """Pairs of categorical columns with Cramér's V at or above the threshold."""
    out = []
    for i in range(len(columns)):
        for j in range(i + 1, len(columns)):
            v = cramers_v[i, j]
            if not np.isnan(v) and v >= HIGH_ASSOCIATION:
                out.append(
                    _warning(
                        "high-association",
                        [columns[i], columns[j]],
                        f"{columns[i]!r} and {columns[j]!r} are strongly associated (Cramér's V "
                        f"{v:.3f}; threshold {HIGH_ASSOCIATION}): one largely determines the "
                        "other, so one of them may be redundant.",
                        cramers_v=round(float(v), 6),
                    )
                )
    return sorted(out, key=lambda w: -w["evidence"]["cramers_v"])


def _fmt(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.3f}"


def duplicate_warning(duplicates: int, rows: int) -> list[dict]:
    if not duplicates:
        return []
    return [
        _warning(
            "duplicate-rows",
            [],
            f"{counted(duplicates, 'row')} ({share(duplicates, rows)}) "
            f"{'repeats' if duplicates == 1 else 'repeat'} an earlier row exactly.",
            duplicates=duplicates,
            share=round(duplicates / rows, 6),
        )
    ]


def imbalance_warning(target: str, classes: list[dict]) -> list[dict]:
    total = sum(c["count"] for c in classes)
    if len(classes) < 2 or not total:
        return []
    rarest = min(classes, key=lambda c: c["count"])
    rarest_share = rarest["count"] / total
    # Relative to an even split, so ten balanced classes (10 % each) are not "imbalanced".
    threshold = IMBALANCE_OF_EVEN / len(classes)
    if rarest_share >= threshold:
        return []
    return [
        _warning(
            "imbalanced-target",
            [target],
            f"The target {target!r} is imbalanced: class {rarest['value']!r} is "
            f"{percent(100 * rarest_share)} of the rows (threshold {percent(100 * threshold)} for "
            f"{len(classes)} classes). Use stratified "
            "splits and a metric such as ROC-AUC or PR-AUC, or resample.",
            rarest_class=rarest["value"],
            rarest_share=round(rarest_share, 6),
            classes={str(c["value"]): c["count"] for c in classes},
        )
    ]


def leakage_warnings(target: str, power: list[dict]) -> list[dict]:
    out = []
    for entry in power:
        reasons = []
        if (entry["value"] or 0) >= LEAKAGE_SKILL:
            reasons.append(f"{entry['measure']} {entry['value']:.3f} ≥ {LEAKAGE_SKILL}")
        if (entry.get("roc_auc") or 0) >= LEAKAGE_AUC:
            reasons.append(f"ROC-AUC {entry['roc_auc']:.3f} ≥ {LEAKAGE_AUC}")
        if (entry.get("abs_spearman") or 0) >= LEAKAGE_SPEARMAN:
            reasons.append(f"|Spearman ρ| {entry['abs_spearman']:.3f} ≥ {LEAKAGE_SPEARMAN}")
        if reasons:
            column = entry["column"]
            out.append(
                _warning(
                    "target-leakage",
                    [column, target],
                    f"{column!r} alone predicts the target {target!r} almost perfectly "
                    f"({'; '.join(reasons)}). Check that it is known at prediction time.",
                    **{k: v for k, v in entry.items() if k != "column"},
                )
            )
    return out
