"""The parity gate: a compiled form serves only if it answers what the pipeline answers.

Checked on the version's validation rows (its training job's validation split, else its test
split, else a sample of the data set version it was trained on) plus synthetic rows with missing
values and unseen categories (``kiln.recipe.probe_rows``). Classifiers: max |Δp| ≤ 1e-5 and the
same label on every row; regression: |Δ| ≤ 1e-6 of the value (of the mean absolute value, for
values near zero). On failure the report names what broke: the ensemble member, then the input
column whose encoding differs, else the estimator's converted form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kiln.compiler._build import CompileError, members_of
from kiln.compiler._forms import CompiledModel, CompiledPipeline
from kiln.recipe import probe_rows
from kiln.registry import TrainedModel

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.registry import ModelVersion

PROBABILITY_TOLERANCE = 1e-5
RELATIVE_TOLERANCE = 1e-6
# Rows of the validation split checked at most (a sample beyond: the check stays seconds).
PARITY_ROWS = 2000


def parity_rows(
    ctx: Context, version: ModelVersion, model: TrainedModel
) -> tuple[pd.DataFrame, str]:
    """The rows the gate checks, and where they came from (for the report)."""
    frame, source = None, None
    if version.job_id is not None:
        try:
            splits = (ctx.jobs.get(version.job_id).result or {}).get("splits") or {}
        except Exception:  # the job was deleted: fall back to the data set
            splits = {}
        for part in ("validation", "test"):
            if splits.get(part):
                frame, source = ctx.data.load(splits[part]), f"the {part} split {splits[part]}"
                break
    if frame is None and version.dataset_version_id is not None:
        dataset = ctx.data.get_by_id(version.dataset_version_id)
        frame, source = ctx.data.load(dataset), f"the data set {dataset.ref} (sampled)"
    columns = model.input_columns
    if frame is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
        if len(frame) > PARITY_ROWS:
            frame = frame.sample(n=PARITY_ROWS, random_state=0)
        frame = frame.reset_index(drop=True)
    probe = probe_rows(model.signature, None)[columns]
    if frame is None or list(frame.columns) != list(columns):
        return probe, "synthetic rows only (no validation rows found)"
    return pd.concat([frame.astype(object), probe], ignore_index=True), (
        f"{len(frame)} rows of {source} + {len(probe)} rows with missing and unseen values"
    )


def request_columns(frame: pd.DataFrame, signature: dict) -> dict[str, np.ndarray]:
    """A frame's columns as a request brings them to the compiled form: numbers as float
    arrays (NaN for missing), everything else as object arrays (None for missing)."""
    out = {}
    for spec in signature["inputs"]:
        column = frame[spec["name"]]
        if spec["dtype"] == "number":
            out[spec["name"]] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        else:
            values = column.astype(object)
            out[spec["name"]] = values.where(values.notna(), None).to_numpy()
    return out


def reference_scores(model: TrainedModel, frame: pd.DataFrame) -> np.ndarray:
    """What the pipeline answers: probabilities or values."""
    frame = _typed(frame, model.signature)
    return model.predict_proba(frame) if model.is_classifier else model.predict_values(frame)


def _typed(frame: pd.DataFrame, signature: dict) -> pd.DataFrame:
    columns = request_columns(frame, signature)
    return pd.DataFrame(columns)


def compare(model: TrainedModel, expected: np.ndarray, got: np.ndarray) -> dict:
    """Parity figures of ``got`` against ``expected`` and whether they pass."""
    if got.shape != expected.shape:
        return {"passed": False, "reason": f"shape {got.shape} instead of {expected.shape}"}
    if model.is_classifier:
        difference = float(np.max(np.abs(got - expected))) if len(got) else 0.0
        same = model.encoded_labels(got) == model.encoded_labels(expected)
        return {
            "max_abs_diff": difference,
            "tolerance": PROBABILITY_TOLERANCE,
            "labels_identical": bool(same.all()),
            "label_mismatches": int((~same).sum()),
            "passed": bool(difference <= PROBABILITY_TOLERANCE and same.all()),
        }
    scale = np.maximum(np.abs(expected), float(np.mean(np.abs(expected))) or 1.0)
    relative = float(np.max(np.abs(got - expected) / scale)) if len(got) else 0.0
    return {
        "max_rel_diff": relative,
        "tolerance": RELATIVE_TOLERANCE,
        "passed": bool(relative <= RELATIVE_TOLERANCE),
    }


def check(model: TrainedModel, compiled: CompiledModel, frame: pd.DataFrame, source: str) -> dict:
    """The parity report; raises ``compile.parity-failed`` naming what broke."""
    columns = request_columns(frame, model.signature)
    expected = reference_scores(model, frame)
    try:
        got = compiled.score(columns)
    except Exception as exc:  # a converter's graph that cannot run is a parity failure too
        figures = {"passed": False, "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}
    else:
        figures = compare(model, expected, got)
    report = {"rows": len(frame), "rows_from": source, **figures}
    if not report["passed"]:
        culprit = _culprit(model, compiled, frame, columns)
        shown = ", ".join(f"{k}={v}" for k, v in figures.items() if k != "passed")
        raise CompileError(
            f"Model {compiled.ref} was not compiled for --target {compiled.target}: its compiled "
            f"form does not match the pipeline on {len(frame)} rows ({shown}). What broke: "
            f"{culprit}. The model keeps serving through its pipeline; "
            + (
                "try '--target native'."
                if compiled.target != "native"
                else "report it with the model's recipe."
            ),
            code="compile.parity-failed",
        )
    return report


def _culprit(model: TrainedModel, compiled: CompiledModel, frame, columns) -> str:
    """The first member, then column, whose compiled answer differs from the pipeline's."""
    members = members_of(model) or [(compiled.members[0].name, 1.0, [model.pipeline])]
    n_classes = compiled.n_classes
    typed = _typed(frame, model.signature)
    for (name, _, pipelines), member in zip(members, compiled.members, strict=True):
        for pipeline, part in zip(pipelines, member.pipelines, strict=True):
            where = f"ensemble member {name!r}" if compiled.ensemble else f"the {name} model"
            column = _column_that_differs(pipeline, part, typed, columns, model.signature)
            if column is not None:
                return f"the encoding of column {column!r} ({where})"
            try:
                got = part.score(columns, n_classes)
            except Exception as exc:
                return f"{where}: its {compiled.target} form fails ({type(exc).__name__})"
            if model.is_classifier:
                expected = np.asarray(pipeline.predict_proba(typed), dtype=float)
                if got.shape[1] != expected.shape[1]:
                    return f"{where}: {got.shape[1]} classes instead of {expected.shape[1]}"
                worst = float(np.max(np.abs(got - expected)))
                if worst > PROBABILITY_TOLERANCE:
                    return (
                        f"{where}: its estimator's {compiled.target} form (max |Δp| {worst:.3g} "
                        "on rows whose encoding agrees)"
                    )
            else:
                expected = np.asarray(pipeline.predict(typed), dtype=float)
                if not np.allclose(got, expected, rtol=RELATIVE_TOLERANCE, atol=0):
                    return f"{where}: its estimator's {compiled.target} form"
    return "the combination of the members (each matches on its own)"


def _column_that_differs(pipeline, part: CompiledPipeline, typed, columns, signature) -> str | None:
    preprocessor = pipeline[0]
    try:
        expected = np.asarray(preprocessor.transform(typed), dtype=float)
        got = part.encoder.encode(columns)
    except Exception:
        return None
    if expected.shape != got.shape:
        return None
    differs = ~np.isclose(got, expected, equal_nan=True).all(axis=0)
    if not differs.any():
        return None
    try:
        names = [str(n) for n in preprocessor.get_feature_names_out()]
    except Exception:
        names = []
    feature = names[int(np.argmax(differs))] if names else str(int(np.argmax(differs)))
    feature = feature.split("__", 1)[-1]
    inputs = sorted((s["name"] for s in signature["inputs"]), key=len, reverse=True)
    return next((c for c in inputs if feature == c or feature.startswith(f"{c}_")), feature)
