"""Model quality on live traffic: captured predictions joined with their ground truth by inference
id, scored with the problem type's metrics and compared with the baseline's thresholds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.evaluation import evaluate
from kiln.problems import LOWER_IS_BETTER, REGRESSION

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["check_model_quality", "quality_violations"]


def check_model_quality(
    ctx: Context, monitor, baseline, frame: pd.DataFrame
) -> tuple[dict, list, dict]:
    """Metrics, violations and the report's ``quality`` section for one window."""
    from kiln.monitoring._monitors import MIN_LABELLED_ROWS

    model = (baseline.statistics.get("model") if baseline is not None else None) or _model_info(
        ctx, monitor.endpoint
    )
    labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[0:0]
    counts = {
        "labelled_rows": int(len(labelled)),
        "unlabelled_rows": int(len(frame) - len(labelled)),
    }
    if len(labelled) < MIN_LABELLED_ROWS:
        return (
            {k: float(v) for k, v in counts.items()},
            [],
            {
                "no_data": True,
                "reason": f"{len(labelled)} labelled row(s) in the window; model quality needs "
                f"{MIN_LABELLED_ROWS}. Upload ground truth (kiln endpoints ground-truth), or widen "
                "the window or its offset (labels that arrive late).",
                "quality": counts,
            },
        )
    violations: list[dict] = []
    if model["problem_type"] == REGRESSION:
        metrics, unusable = _regression(labelled)
        if unusable:
            violations.append(
                _label_violation("label_type_check", unusable, "numeric labels", labelled)
            )
    else:
        metrics, unknown = _classification(labelled, model)
        if unknown:
            violations.append(
                _label_violation("unknown_label_check", unknown, model["classes"], labelled)
            )
    thresholds = _thresholds(monitor, baseline)
    violations += quality_violations(metrics, thresholds, labelled_rows=len(labelled))
    # evaluate() also returns tables (a confusion matrix) and None for what it cannot compute
    # (ROC AUC of one class): the run's metrics are the numbers
    numbers = {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    metrics = {**numbers, **{k: float(v) for k, v in counts.items()}}
    return (
        metrics,
        violations,
        {"quality": {"metrics": metrics, "thresholds": thresholds, **counts}},
    )


def _model_info(ctx: Context, endpoint: str) -> dict:
    version = ctx.models.get(ctx.endpoints.get(endpoint).model)
    loaded = ctx.models.load(version)
    return {
        "ref": version.ref,
        "problem_type": version.problem_type,
        "classes": [str(c) for c in (loaded.classes or [])],
    }


def _regression(labelled: pd.DataFrame) -> tuple[dict, int]:
    truth = pd.to_numeric(labelled["label"], errors="coerce")
    predicted = pd.to_numeric(labelled.get("predicted_value"), errors="coerce")
    usable = truth.notna() & predicted.notna()
    metrics = evaluate(
        REGRESSION, truth[usable].to_numpy(float), y_pred=predicted[usable].to_numpy(float)
    )
    return metrics, int((~usable).sum())


def _classification(labelled: pd.DataFrame, model: dict) -> tuple[dict, int]:
    classes = [str(c) for c in model["classes"]]
    index = {c: i for i, c in enumerate(classes)}
    truth = labelled["label"].map(_text)
    known = truth.isin(index)
    rows = labelled[known]
    y_true = truth[known].map(index).to_numpy(int)
    y_pred = rows["predicted_label"].map(_text).map(index).fillna(-1).to_numpy(int)
    columns = [f"predicted_probabilities_{c}" for c in classes]
    proba = rows[columns].to_numpy(float) if all(c in rows for c in columns) else None
    if proba is not None and np.isnan(proba).any():
        proba = None
    metrics = evaluate(model["problem_type"], y_true, y_pred=y_pred, proba=proba, positive_index=1)
    return metrics, int((~known).sum())


def _text(value: Any) -> str:
    """Labels compared as text: a JSON true, "True" and a captured True are one class; 1.0 is 1."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _label_violation(check: str, count: int, expected, labelled: pd.DataFrame) -> dict:
    examples = sorted(
        {_text(v) for v in labelled["label"].tolist()} - {str(e) for e in expected}
        if isinstance(expected, list)
        else []
    )[:5]
    return {
        "column": "label",
        "check": check,
        "observed": count,
        "expected": expected,
        "evidence": {
            "rows": count,
            "share": round(count / max(len(labelled), 1), 4),
            "examples": examples,
            "meaning": "ground truth labels the model never saw: a new class, or a labelling "
            "mistake; those rows are left out of the metrics"
            if check == "unknown_label_check"
            else "ground truth labels that are not numbers; left out of the metrics",
        },
    }


def _thresholds(monitor, baseline) -> dict[str, dict]:
    given = (monitor.config or {}).get("thresholds")
    if given:
        # The problem spec they were taken from, when the monitor's model named one.
        source = (monitor.config or {}).get("thresholds_from")
        return {
            name: {
                "threshold": float(value),
                "comparison": "GreaterThanThreshold"
                if name in LOWER_IS_BETTER
                else "LessThanThreshold",
                **({"problem": source} if source else {}),
            }
            for name, value in given.items()
        }
    return dict((baseline.constraints.get("model_quality") or {}) if baseline else {})


def quality_violations(
    metrics: dict[str, float], thresholds: dict[str, dict], *, labelled_rows: int
) -> list[dict]:
    """A violation per metric past its threshold (``LessThanThreshold``: the live value is below
    it; ``GreaterThanThreshold``: above it, for errors)."""
    out = []
    for name, rule in thresholds.items():
        value = metrics.get(name)
        if value is None:
            continue
        below = rule.get("comparison", "LessThanThreshold") == "LessThanThreshold"
        broken = value < rule["threshold"] if below else value > rule["threshold"]
        if broken:
            out.append(
                {
                    "column": name,
                    "check": "model_quality_check",
                    "observed": round(float(value), 6),
                    "expected": f"{'>=' if below else '<='} {rule['threshold']:g}",
                    "evidence": {
                        "baseline": rule.get("baseline"),
                        "labelled_rows": labelled_rows,
                        **({"problem": rule["problem"]} if rule.get("problem") else {}),
                    },
                }
            )
    return out
