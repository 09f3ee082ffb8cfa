"""What every section of the training report shares: the reloaded run (model, splits,
predictions), the report's constants and table helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.algorithms import ALGORITHMS, BINARY, MULTICLASS, REGRESSION, Algorithm
from kiln.errors import ConfigError, DataError, StateError
from kiln.reports import (
    table,
)

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.context import Context
    from kiln.registry import ModelVersion, TrainedModel

__all__ = [
    "CURVE_POINTS",
    "IMPORTANCE_ROWS",
    "LEARNING_CURVE_FRACTIONS",
    "MAX_CLASS_CURVES",
    "PERMUTATION_MIN_ROWS",
    "PERMUTATION_REPEATS",
    "PERMUTATION_SECONDS",
    "SCATTER_POINTS",
    "SUPERVISED",
    "TOP_FEATURES",
]

SUPERVISED = (BINARY, MULTICLASS, REGRESSION)
# Shares of the training split the learning curve refits on.
LEARNING_CURVE_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
# Rows of the test split used for permutation importance and SHAP (a seeded sample).
IMPORTANCE_ROWS = 2000
PERMUTATION_REPEATS = 5
# Time budget of the permutation importance, and the fewest rows it may cut down to.
PERMUTATION_SECONDS = 8.0
PERMUTATION_MIN_ROWS = 300
TOP_FEATURES = 20
# Points per scatter trace and per curve, so a report stays a few hundred kB above plotly.js.
SCATTER_POINTS = 2000
CURVE_POINTS = 400
# Per-class curves drawn for multiclass problems (the most frequent classes).
MAX_CLASS_CURVES = 10

_SCORERS = {BINARY: "roc_auc", MULTICLASS: "accuracy", REGRESSION: "r2"}
_HEADLINE = {
    BINARY: ("roc_auc", "pr_auc", "f1", "accuracy", "log_loss"),
    MULTICLASS: ("accuracy", "f1_macro", "roc_auc_macro", "log_loss"),
    REGRESSION: ("r2", "rmse", "mae"),
}
_SPLIT_ORDER = ("train", "cv_mean", "cv_std", "validation", "test")
_COLOURS = {"train": "#9aa5b1", "validation": "#EF553B", "test": "#636efa"}
_PALETTE = ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692")


@dataclass
class _Run:
    """Everything the sections share: the job, its model, the split rows and predictions."""

    ws: Context
    job: Job
    version: ModelVersion
    model: TrainedModel
    problem_type: str
    target: str
    seed: int
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    y: dict[str, np.ndarray] = field(default_factory=dict)
    proba: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cross_validated(self) -> bool:
        return str(self.job.result.get("validation", "holdout")) != "holdout"

    @property
    def held_out(self) -> list[str]:
        """Splits the model never saw, with rows: the test split (the main one) first, then
        validation, unless cross-validation refit the model on it."""
        parts = ("test",) if self.cross_validated else ("test", "validation")
        return [s for s in parts if len(self.y.get(s, ()))]

    @property
    def algorithm(self) -> Algorithm | None:
        """The catalog entry the model was trained with (None for models built otherwise)."""
        return ALGORITHMS.get(self.version.algorithm)

    @property
    def labels(self) -> list[str]:
        return [str(c) for c in self.model.classes or []]


# -- loading --------------------------------------------------------------------------------------
def _check_reportable(job: Job) -> None:
    if job.kind != "training":
        raise ConfigError(
            f"Job {job.id} is a {job.kind} job; reports are for training jobs. "
            "See 'kiln jobs list --kind training'.",
            code="reports.not-training-job",
        )
    if job.status != "Completed":
        reason = f" ({job.failure_reason.strip().splitlines()[-1]})" if job.failure_reason else ""
        raise StateError(
            f"Training job {job.id} is {job.status}{reason}, so it has no model to report on. "
            f"See 'kiln jobs logs {job.id}', or report on a completed job.",
            code="reports.job-not-completed",
        )
    if not job.result.get("model"):
        raise StateError(
            f"Training job {job.id} registered no model, so there is nothing to report on.",
            code="reports.no-model",
        )


def _load(ws: Context, job: Job) -> _Run:
    version = ws.models.get(job.result["model"])
    model = ws.models.load(version)
    problem_type = job.result.get("problem_type") or version.problem_type
    target = job.spec.get("target") or (model.signature.get("outputs") or {}).get("target")
    run = _Run(
        ws=ws,
        job=job,
        version=version,
        model=model,
        problem_type=problem_type,
        target=target,
        seed=int(job.spec.get("seed", 42)),
    )
    if problem_type not in SUPERVISED:
        return run
    index = {c: i for i, c in enumerate(model.classes or [])}
    for split, ref in (job.result.get("splits") or {}).items():
        frame = ws.data.load(ref)
        if target not in frame.columns:
            raise DataError(
                f"The {split} split {ref} has no column {target!r}, the job's target.",
                code="reports.missing-target",
            )
        frame = frame[frame[target].notna()]
        if problem_type == REGRESSION:
            y = frame[target].to_numpy(dtype=float)
        else:
            codes = frame[target].map(index)
            known = codes.notna().to_numpy()
            frame, y = frame[known], codes[known].to_numpy(dtype=int)
        run.frames[split] = frame.reset_index(drop=True)
        run.y[split] = y
    return run


def _predict(run: _Run) -> None:
    for split in run.held_out:
        frame = run.frames[split]
        if run.problem_type == REGRESSION:
            run.values[split] = run.model.predict_values(frame)
        else:
            run.proba[split] = run.model.predict_proba(frame)


def _output_path(ws: Context, job: Job, out) -> Path:
    if out is None:
        return Path(ws.home) / "reports" / f"{job.id}.html"
    path = Path(out)
    return path / f"{job.id}.html" if path.is_dir() else path


def _scalar_metrics(metrics: dict) -> dict:
    return {
        split: {k: v for k, v in metrics[split].items() if not isinstance(v, list | dict)}
        for split in _SPLIT_ORDER
        if metrics.get(split)
    }


# -- helpers --------------------------------------------------------------------------------------
def _table(columns: list[str], rows: list[list[Any]], **options: Any) -> str:
    """``reports.table``, with large numbers shown with thousands separators and one decimal."""

    def shown(value: Any) -> Any:
        if isinstance(value, float) and np.isfinite(value) and abs(value) >= 1000:
            return f"{value:,.1f}"
        return value

    return table(columns, [[shown(v) for v in row] for row in rows], **options)


def _f32(values) -> np.ndarray:
    """float32 arrays: plotly stores them as compact binary, which keeps the page small."""
    return np.asarray(values, dtype=np.float32)


def _thin(x: np.ndarray, y: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` evenly spaced points of a curve, the first and last kept."""
    x, y = np.asarray(x), np.asarray(y)
    if len(x) <= points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, points).round().astype(int))
    return x[keep], y[keep]
