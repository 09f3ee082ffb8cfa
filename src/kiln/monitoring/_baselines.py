"""Baselines: the statistics of a reference data set (with a model's predictions on it) and the
constraints suggested from them, stored as two JSON documents the user may edit."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select

from kiln.data import capture_rows
from kiln.errors import ConfigError, NotFound
from kiln.problems import LOWER_IS_BETTER
from kiln.store import BaselineRow, Record, new_id, now, who

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.registry import ModelVersion

__all__ = [
    "Baseline",
    "create_baseline",
    "get_baseline",
    "list_baselines",
    "model_frame",
    "replace_constraints",
    "set_constraint",
]

# How much worse than its baseline a live metric may be before model quality is violated:
# absolute for bounded scores (accuracy, AUC, F1, R²), relative for errors (RMSE, MAE, log loss).
QUALITY_TOLERANCE = 0.05
ERROR_TOLERANCE = 0.20
# The held-out metrics a model's baseline takes its quality thresholds from, best first.
_HELD_OUT = ("test", "validation", "oof", "cv")
# Rows of a data set a baseline reads at most (a seeded sample beyond): statistics converge long
# before, and a model's predictions and SHAP values on millions of rows would take minutes.
MAX_BASELINE_ROWS = 200_000


@dataclass(frozen=True)
class Baseline(Record):
    id: str
    dataset_version_id: str
    model: str | None
    statistics: dict
    constraints: dict
    created_at: datetime
    created_by: str
    updated_at: datetime

    def to_dict(self) -> dict:
        return self._plain()


def model_frame(model, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s model inputs with the model's predictions beside them, under the names
    captured traffic gives them (``predicted_label``, ``predicted_probabilities_<class>``,
    ``predicted_value``), so a baseline and a capture window compare column for column."""
    inputs = frame[model.input_columns].reset_index(drop=True)
    records = [{"input": [], "output": model.predictions(inputs)}]
    predicted = capture_rows(records)
    predicted = predicted[[c for c in predicted.columns if c.startswith("predicted_")]]
    return pd.concat([inputs, predicted.reset_index(drop=True)], axis=1)


def create_baseline(
    ctx: Context, data: str | None = None, *, model: str | None = None, seed: int = 0
) -> Baseline:
    """Compute and store a baseline of data set ``data`` (``name`` or ``name@V``).

    With ``model``, the data defaults to the model's training data, the statistics include the
    model's predictions (for prediction drift) and its held-out metrics (for model quality), and
    the model's global SHAP attributions when it can be explained (for attribution drift).
    """
    from kiln.monitoring._statistics import dataset_statistics, suggest_constraints

    version: ModelVersion | None = ctx.models.get(model) if model else None
    if data is None:
        if version is None:
            raise ConfigError(
                "A baseline needs a data set (--data NAME[@V]) or a model (--model GROUP:VERSION), "
                "whose training data it then uses.",
                code="monitor.no-baseline-data",
            )
        if not version.dataset_version_id:
            raise ConfigError(
                f"Model {version.ref} records no training data set. Give one with --data.",
                code="monitor.no-baseline-data",
            )
        dataset = ctx.data.get_by_id(version.dataset_version_id)
    else:
        dataset = ctx.data.get(data)
    if dataset.row_count == 0:
        raise ConfigError(
            f"Data set {dataset.ref} has no rows: a baseline describes the data a model should "
            "see, so it needs some. Ingest a version with rows and try again.",
            code="monitor.empty-data",
        )
    frame = ctx.data.load(dataset)
    if len(frame) > MAX_BASELINE_ROWS:
        frame = frame.sample(MAX_BASELINE_ROWS, random_state=seed)
    extra: dict[str, Any] = {}
    if version is not None:
        loaded = ctx.models.load(version)
        missing = [c for c in loaded.input_columns if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"Data set {dataset.ref} lacks the model's input columns {missing}: a model's "
                "baseline is computed on data the model can score.",
                code="monitor.baseline-columns",
            )
        described = model_frame(loaded, frame)
        extra["model"] = {
            "ref": version.ref,
            "problem_type": version.problem_type,
            "target": version.target,
            "classes": [str(c) for c in (loaded.classes or [])],
            "metrics": held_out_metrics(version.metrics),
        }
        attributions = _attributions(loaded, frame)
        if attributions:
            extra["attribution"] = attributions
    else:
        described = frame
    statistics = dataset_statistics(described)
    statistics.update(extra)
    statistics["dataset"] = {**statistics.get("dataset", {}), "ref": dataset.ref}
    constraints = suggest_constraints(statistics)
    if "model" in extra:
        constraints["model_quality"] = quality_thresholds(extra["model"]["metrics"])
    if "attribution" in extra:
        constraints["attribution"] = {"ndcg_threshold": 0.9}
    stamp, by = now(), who()
    row = BaselineRow(
        id=new_id("base"),
        dataset_version_id=dataset.id,
        model=version.ref if version else None,
        statistics=statistics,
        constraints=constraints,
        created_at=stamp,
        created_by=by,
        updated_at=stamp,
    )
    with ctx.store.write() as session:
        session.add(row)
        session.flush()
        return Baseline._from_row(row)


def held_out_metrics(metrics: dict) -> dict[str, float]:
    """A model's metrics on rows it was not fit on: test, else validation, else out of fold."""
    for source in _HELD_OUT:
        values = metrics.get(source)
        if isinstance(values, dict) and values:
            return {k: float(v) for k, v in values.items() if isinstance(v, int | float)}
    flat = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    return flat


def quality_thresholds(metrics: dict[str, float]) -> dict[str, dict]:
    """Suggested model-quality constraints: each metric may be worse than the baseline's by the
    tolerance (absolute for scores, relative for errors) before it is a violation."""
    out = {}
    for name, value in metrics.items():
        if name in LOWER_IS_BETTER:
            out[name] = {
                "threshold": round(value * (1 + ERROR_TOLERANCE), 6),
                "comparison": "GreaterThanThreshold",
                "baseline": value,
            }
        else:
            out[name] = {
                "threshold": round(value - QUALITY_TOLERANCE, 6),
                "comparison": "LessThanThreshold",
                "baseline": value,
            }
    return out


def _attributions(loaded, frame: pd.DataFrame) -> dict | None:
    """The model's global attributions on (a sample of) the baseline rows, or None when the
    model cannot be explained (no shap, an unsupported estimator)."""
    import kiln.clarify as clarify

    sample = frame.sample(min(len(frame), 500), random_state=0)
    try:
        return clarify.global_attributions(loaded, sample)
    except Exception:  # noqa: BLE001 — attribution is optional in a baseline; its monitor says why
        return None


def get_baseline(ctx: Context, baseline_id: str) -> Baseline:
    with ctx.store.read() as session:
        row = session.get(BaselineRow, baseline_id)
        if row is None:
            known = session.scalars(select(BaselineRow.id).order_by(BaselineRow.created_at)).all()
            raise NotFound(
                f"No baseline {baseline_id!r}. Baselines: {', '.join(known[-10:]) or 'none'} "
                "(create one with 'kiln monitor baseline').",
                code="monitor.unknown-baseline",
            )
        return Baseline._from_row(row)


def list_baselines(ctx: Context) -> list[Baseline]:
    with ctx.store.read() as session:
        rows = session.scalars(select(BaselineRow).order_by(BaselineRow.created_at)).all()
        return [Baseline._from_row(r) for r in rows]


def replace_constraints(ctx: Context, baseline_id: str, document: dict) -> Baseline:
    """Replace a baseline's constraints with ``document`` (checked first; nothing changes when
    it is refused)."""
    from kiln.monitoring._statistics import validate_constraints

    checked = validate_constraints(document)
    with ctx.store.write() as session:
        row = session.get(BaselineRow, baseline_id)
        if row is None:
            get_baseline(ctx, baseline_id)  # raises the NotFound with the known ids
        row.constraints = checked
        row.updated_at = now()
        session.flush()
        return Baseline._from_row(row)


def set_constraint(ctx: Context, baseline_id: str, path: str, value: Any) -> Baseline:
    """Set one value in a baseline's constraints by a dotted path: ``age.drift.psi``,
    ``age.completeness`` (a feature by name, then keys in its entry), or
    ``monitoring_config.drift.ks`` / ``model_quality.roc_auc.threshold`` (top-level keys)."""
    document = copy.deepcopy(get_baseline(ctx, baseline_id).constraints)
    parts = [p for p in path.split(".") if p]
    if len(parts) < 2:
        raise ConfigError(
            f"Cannot read the constraint path {path!r}: write COLUMN.KEY[.KEY] (age.completeness, "
            "age.drift.psi) or SECTION.KEY (model_quality.roc_auc.threshold).",
            code="monitor.bad-constraint-path",
        )
    features = {f.get("name"): f for f in document.get("features", [])}
    if parts[0] in features:
        node = features[parts[0]]
    elif parts[0] in document and isinstance(document[parts[0]], dict):
        node = document[parts[0]]
    else:
        raise ConfigError(
            f"No column or section {parts[0]!r} in the constraints of {baseline_id}. Columns: "
            f"{', '.join(list(features)[:20])}; sections: "
            f"{', '.join(k for k, v in document.items() if isinstance(v, dict))}.",
            code="monitor.bad-constraint-path",
        )
    for key in parts[1:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(
                f"{path!r}: {key!r} holds a value, not a section.",
                code="monitor.bad-constraint-path",
            )
    node[parts[-1]] = value
    return replace_constraints(ctx, baseline_id, document)
