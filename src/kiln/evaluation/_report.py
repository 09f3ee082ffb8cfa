"""The evaluation report of a training job: one self-contained HTML page.

It reloads what the job recorded (model, split data set versions, metrics, per-iteration losses),
recomputes predictions on the held-out splits and adds what the job did not compute: curves,
calibration, a learning curve, permutation importance, SHAP values for tree models and a
bias/variance diagnosis.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.algorithms import ALGORITHMS, BINARY, MULTICLASS, REGRESSION, Algorithm, best_iteration
from kiln.errors import ConfigError, DataError, StateError
from kiln.evaluation._diagnosis import LOSS_METRIC, METRIC_LABELS, SKILL_METRIC, diagnose
from kiln.evaluation._explain import ShapUnavailable, shap_values, transformed_feature_names
from kiln.evaluation._metrics import evaluate
from kiln.evaluation._unsupervised import clustering_metrics
from kiln.reports import (
    JobReport,
    Section,
    bullets,
    fields,
    figure,
    grid,
    note,
    render,
    table,
    write,
)

if TYPE_CHECKING:
    import os

    from kiln.compute import Job
    from kiln.context import Context
    from kiln.registry import ModelVersion, TrainedModel

__all__ = ["clustering_section", "threshold_table", "training_report"]

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


def training_report(
    workspace: Context,
    job: Job,
    *,
    out: str | os.PathLike | None = None,
    learning_curve: bool = True,
) -> JobReport:
    """Write the HTML evaluation report of a completed training job.

    Parameters
    ----------
    workspace
        The workspace that ran the job.
    job
        The training job (``ws.jobs.get(JOB_ID)``; ``kiln jobs list --kind training``).
    out
        Where to write the page; a folder gets ``<job id>.html`` inside it. Defaults to
        ``<workspace home>/reports/<job id>.html``.
    learning_curve
        Refit the model on growing shares of the training split (10% to 100%) for the learning
        curve. Turn off to save those refits on large data sets.

    Returns
    -------
    JobReport
        ``path`` of the written page, the bias/variance ``diagnosis`` and the ``metrics`` by
        split; ``to_dict()`` is what ``kiln jobs report --json`` prints.

    Examples
    --------
    >>> result = ws.train("churn", target="churn", algorithm="lightgbm")     # doctest: +SKIP
    >>> ws.report(result.job.id).path                                          # doctest: +SKIP
    PosixPath('.kiln/reports/train-21ec411d2f62.html')
    """

    started = time.perf_counter()
    _check_reportable(job)
    run = _load(workspace, job)
    if run.cross_validated and run.problem_type in SUPERVISED:
        run.notes.append(
            f"Cross-validation ({job.result.get('validation')}) refit the final model on the "
            "train and validation splits, so the curves below use the test split only."
        )
    timings: dict[str, float] = {}
    stored = job.result.get("metrics") or {}
    metrics = _scalar_metrics(stored)

    if run.problem_type not in SUPERVISED:
        # Unsupervised jobs get the summary and their metrics; their own sections (e.g.
        # clustering_section) are added by the unsupervised training code.
        sections = [
            _summary_section(run, None, timings),
            _metrics_section(stored),
        ]
        if run.problem_type == "clustering" and job.result.get("splits", {}).get("test"):
            frame = workspace.data.load(job.result["splits"]["test"])
            features = run.model.pipeline[:-1].transform(frame[run.model.input_columns])
            truth = frame[run.target] if run.target and run.target in frame else None
            section, _ = clustering_section(
                features, run.model.clusters(frame), truth, seed=run.seed
            )
            sections.append(section)
        diagnosis: dict = {
            "verdict": "unknown",
            "evidence": ["No bias/variance diagnosis for unsupervised models."],
            "suggestions": [],
        }
    else:
        _predict(run)
        curve: list[dict] = []
        curve_section = None
        if learning_curve:
            tick = time.perf_counter()
            curve, curve_section = _learning_curve_section(run)
            timings["learning curve"] = time.perf_counter() - tick
        diagnosis = diagnose(
            run.problem_type,
            stored,
            algorithm=run.version.algorithm,
            learning_curve=curve or None,
        )
        tick = time.perf_counter()
        body = [_metrics_section(stored), _diagnosis_section(diagnosis)]
        if curve_section is not None:
            body.append(curve_section)
        body.append(_iteration_section(run))
        if run.problem_type == REGRESSION:
            body += _regression_sections(run)
        else:
            body += _classification_sections(run)
        timings["curves"] = time.perf_counter() - tick
        tick = time.perf_counter()
        body.append(_permutation_section(run))
        timings["permutation importance"] = time.perf_counter() - tick
        tick = time.perf_counter()
        body.append(_shap_section(run))
        timings["SHAP"] = time.perf_counter() - tick
        timings["total"] = time.perf_counter() - started
        sections = [_summary_section(run, diagnosis, timings), *body]

    path = _output_path(workspace, job, out)
    subtitle = f"model {run.version.ref} · {run.version.algorithm} · {run.problem_type}"
    write(path, render(f"Training job {job.id}", sections, subtitle=subtitle, toc=True))
    return JobReport(
        path=path,
        job_id=job.id,
        diagnosis=diagnosis,
        metrics=metrics,
        seconds=round(time.perf_counter() - started, 3),
        sections=[s.title for s in sections],
    )


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


# -- summary, metrics and diagnosis ---------------------------------------------------------------
def _recipe_columns(step: dict) -> str:
    columns = step.get("columns")
    if step["step"] == "ratio":
        columns = [*step["numerator"], *step["denominator"]]
    return ", ".join(columns) if isinstance(columns, list) else str(columns)


def _summary_section(run: _Run, diagnosis: dict | None, timings: dict) -> Section:
    from markupsafe import Markup

    job, version = run.job, run.version
    result = job.result
    split_text = ", ".join(
        f"{split} {ref}" + (f" ({len(run.frames[split])} rows)" if split in run.frames else "")
        for split, ref in (result.get("splits") or {}).items()
    )
    problem = f"{run.problem_type}, target {run.target!r}"
    if run.model.classes:
        shown = ", ".join(map(str, run.model.classes[:12]))
        problem += f" (classes {shown}{' …' if len(run.model.classes) > 12 else ''})"
    values: dict[str, Any] = {
        "Model": f"{version.ref} ({version.approval_status})",
        "Algorithm": version.algorithm,
        "Hyperparameters": ", ".join(f"{k}={v}" for k, v in version.hyperparameters.items()),
        "Problem": problem,
        "Data set": f"{job.spec.get('dataset', '?')}; splits: {split_text or 'none recorded'}",
        "Validation": result.get("validation", job.spec.get("validation", "holdout")),
        "Recipe": " → ".join(
            f"{step['step']}({_recipe_columns(step)})" for step in job.spec.get("recipe") or []
        )
        or "the default recipe",
    }
    if run.problem_type == BINARY:
        threshold = result.get("threshold")
        values["Decision threshold"] = (
            f"{threshold:.2f}, chosen by cost (false positive {job.spec.get('cost_fp') or 0}, "
            f"false negative {job.spec.get('cost_fn') or 0})"
            if threshold is not None
            else "0.50 (no business cost given)"
        )
    criteria = result.get("criteria") or []
    if criteria:
        passed = sum(bool(c["passed"]) for c in criteria)
        css = "pass" if passed == len(criteria) else "fail"
        values["Success criteria"] = Markup(
            f'<span class="{css}">{passed} of {len(criteria)} passed</span>'
        )
    if diagnosis is not None:
        values["Diagnosis"] = Markup(_badge(diagnosis["verdict"]))
    duration = f"{job.duration_seconds:.1f} s" if job.duration_seconds is not None else "?"
    values["Job"] = (
        f"{job.id}, {duration}, by {job.created_by} on {job.created_at:%Y-%m-%d %H:%M} UTC"
        + (f", experiment {job.experiment}" if job.experiment else "")
    )
    if timings.get("total"):
        values["Report"] = (
            f"computed in {timings['total']:.1f} s ("
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k != "total")
            + ")"
        )
    body = fields(values)
    stored = result.get("metrics") or {}
    names = [n for n in _HEADLINE.get(run.problem_type, ()) if _has_metric(stored, n)]
    parts = [p for p in ("train", "cv_mean", "validation", "test") if stored.get(p)]
    if names and parts:
        body += "<h3>Headline metrics</h3>" + _table(
            ["metric", *parts],
            [[METRIC_LABELS.get(n, n), *[stored[p].get(n) for p in parts]] for n in names],
        )
    if criteria:
        body += "<h3>Success criteria</h3>" + _table(
            ["criterion", "split", "value", "result"],
            [[c["criterion"], c["split"], c["value"], c["passed"]] for c in criteria],
            classes={3: "verdict"},
        )
    for message in run.notes:
        body += f'<p class="note">{html.escape(message)}</p>'
    return Section("Summary", body)


def _has_metric(metrics: dict, name: str) -> bool:
    return any((metrics.get(p) or {}).get(name) is not None for p in _SPLIT_ORDER)


def _badge(verdict: str) -> str:
    css = {"balanced": "good", "overfitting": "bad", "underfitting": "warn"}.get(verdict, "")
    return f'<span class="badge {css}">{html.escape(verdict)}</span>'


def _metrics_section(metrics: dict) -> Section:
    parts = [p for p in _SPLIT_ORDER if metrics.get(p)]
    names: list[str] = []
    for part in parts:
        names += [
            n for n, v in metrics[part].items() if not isinstance(v, list | dict) and n not in names
        ]
    if not names:
        return Section("Metrics", note("The job recorded no metrics."))
    body = _table(["metric", *parts], [[n, *[metrics[p].get(n) for p in parts]] for n in names])
    body += note(
        "As the training job recorded them: the model's predictions on each split"
        + (
            "; cv_mean and cv_std are the mean and standard deviation over the folds, and "
            "train is the final model refit on all development rows."
            if "cv_mean" in parts
            else "."
        )
    )
    return Section("Metrics", body)


def _diagnosis_section(diagnosis: dict) -> Section:
    body = f"<p>Verdict: {_badge(diagnosis['verdict'])}</p><h3>Evidence</h3>"
    body += bullets(diagnosis["evidence"])
    if diagnosis["suggestions"]:
        body += "<h3>What to try</h3>" + bullets(diagnosis["suggestions"])
    return Section("Bias and variance", body)


# -- learning curve and loss by iteration ---------------------------------------------------------
def _learning_curve_section(run: _Run) -> tuple[list[dict], Section]:
    """Refit clones of the pipeline (recipe included) on growing, stratified shares of the
    training split and score them on those rows and on the validation split."""
    import plotly.graph_objects as go
    from sklearn.base import clone

    title = "Learning curve"
    if not len(run.y.get("train", ())):
        return [], Section(title, note("The job recorded no training split."))
    eval_split = next((s for s in ("validation", "test") if len(run.y.get(s, ()))), None)
    if eval_split is None:
        return [], Section(title, note("No held-out split to score the refits on."))
    X, y = run.frames["train"], run.y["train"]
    order = _stratified_order(y, run.seed, classification=run.problem_type != REGRESSION)
    n_classes = len(run.model.classes or [])
    base = _refit_template(run)
    metric = SKILL_METRIC[run.problem_type]
    sizes = sorted(
        {max(int(round(f * len(y))), 2 * n_classes, 10) for f in LEARNING_CURVE_FRACTIONS}
    )
    sizes = [s for s in sizes if s <= len(y)] or [len(y)]
    points, skipped = [], []
    for size in sizes:
        rows = order[:size]
        y_part = y[rows]
        if n_classes and len(np.unique(y_part)) < n_classes:
            skipped.append(f"{size} rows (not every class present)")
            continue
        X_part = X.iloc[rows]
        tick = time.perf_counter()
        try:
            pipeline = clone(base).fit(X_part, y_part)
        except Exception as exc:  # a fit on few rows may fail where the full one did not
            skipped.append(f"{size} rows ({type(exc).__name__}: {exc})")
            continue
        seconds = time.perf_counter() - tick
        train_scores = _scores(run, pipeline, X_part, y_part)
        eval_scores = _scores(run, pipeline, run.frames[eval_split], run.y[eval_split])
        points.append(
            {
                "rows": int(size),
                "fraction": round(size / len(y), 4),
                "train": train_scores.get(metric),
                "validation": eval_scores.get(metric),
                "train_loss": train_scores.get(LOSS_METRIC[run.problem_type]),
                "validation_loss": eval_scores.get(LOSS_METRIC[run.problem_type]),
                "fit_seconds": round(seconds, 3),
            }
        )
    if not points:
        return [], Section(title, note("No refit succeeded: " + "; ".join(skipped)))
    label = METRIC_LABELS[metric]
    fig = go.Figure()
    rows = [p["rows"] for p in points]
    fig.add_scatter(
        x=rows,
        y=_f32([p["train"] for p in points]),
        name="training rows",
        mode="lines+markers",
        line={"color": _COLOURS["train"]},
    )
    fig.add_scatter(
        x=rows,
        y=_f32([p["validation"] for p in points]),
        name=f"{eval_split} split",
        mode="lines+markers",
        line={"color": _COLOURS["validation"]},
    )
    fig.update_layout(
        title=f"{label} by training-set size",
        xaxis_title="training rows",
        yaxis_title=label,
    )
    body = figure(fig, height=380, compact=True)
    body += _table(
        ["training rows", "share", f"train {label}", f"{eval_split} {label}", "fit seconds"],
        [[p["rows"], p["fraction"], p["train"], p["validation"], p["fit_seconds"]] for p in points],
    )
    text = (
        "Each point refits a fresh copy of the model's pipeline (recipe and estimator, same "
        "hyperparameters) on a seeded share of the training split"
        + (", stratified by class," if run.problem_type != REGRESSION else "")
        + f" and scores it on those rows and on the {eval_split} split. A gap that narrows as "
        "rows grow means more "
        "data helps; two curves that meet low mean the model is too simple."
    )
    if best_iteration(run.algorithm, run.model.pipeline[-1]):
        text += " Boosted models are refit with the number of rounds early stopping chose."
    body += note(text)
    if skipped:
        body += note("Skipped: " + "; ".join(skipped) + ".")
    return points, Section(title, body)


def _refit_template(run: _Run):
    """An unfitted copy of the model's pipeline for the learning curve's refits: the recipe, and
    the estimator built as training builds it, with the rounds early stopping chose and no early
    stopping (the refits have no evaluation set)."""
    from sklearn.base import clone

    pipeline = run.model.pipeline
    template = clone(pipeline)
    algorithm = run.algorithm
    best = best_iteration(algorithm, pipeline[-1])
    if algorithm is None:  # a model built outside the catalog: adjust its own parameters
        estimator = template.steps[-1][1]
        params = estimator.get_params(deep=False)
        updates: dict[str, Any] = {}
        if best and "n_estimators" in params:
            updates["n_estimators"] = best
        if params.get("early_stopping_rounds") is not None:
            updates["early_stopping_rounds"] = None
        estimator.set_params(**updates)
        return template
    hp = dict(run.version.hyperparameters)
    if best and algorithm.iterations_param in hp:
        hp[algorithm.iterations_param] = best
    if "early_stopping_rounds" in hp:
        hp["early_stopping_rounds"] = 0
    name = template.steps[-1][0]
    template.steps[-1] = (name, algorithm.build_estimator(run.problem_type, hp, run.seed))
    return template


def _stratified_order(y: np.ndarray, seed: int, *, classification: bool) -> np.ndarray:
    """A seeded row order whose every prefix keeps the class shares (nested subsets)."""
    rng = np.random.default_rng(seed)
    if not classification:
        return rng.permutation(len(y))
    rank = np.empty(len(y))
    for value in np.unique(y):
        rows = np.flatnonzero(y == value)
        rank[rng.permutation(rows)] = (np.arange(len(rows)) + rng.random(len(rows))) / len(rows)
    return np.argsort(rank, kind="stable")


def _scores(run: _Run, pipeline, X: pd.DataFrame, y: np.ndarray) -> dict:
    X = X[run.model.input_columns]
    if run.problem_type == REGRESSION:
        return evaluate(REGRESSION, y, y_pred=np.asarray(pipeline.predict(X), dtype=float))
    proba = pipeline.predict_proba(X)
    return evaluate(run.problem_type, y, y_pred=run.model.encoded_labels(proba), proba=proba)


def _iteration_section(run: _Run) -> Section:
    import plotly.graph_objects as go

    title = "Loss by iteration"
    series = run.ws.jobs.metrics(run.job.id)
    if not series:
        return Section(
            title,
            note(
                f"The {run.version.algorithm} algorithm fits in one go, so the job logged no "
                "per-iteration losses (boosted models log training and validation loss per "
                "round)."
            ),
        )
    by_metric: dict[str, list[tuple[str, str, list]]] = {}
    for name, points in series.items():
        fold, _, rest = name.rpartition("/")
        split, metric = "", rest
        for candidate in ("train", "validation"):
            if rest.startswith(candidate + "_"):
                split, metric = candidate, rest[len(candidate) + 1 :]
        by_metric.setdefault(metric, []).append((fold, split, points))
    figures = []
    best = best_iteration(run.algorithm, run.model.pipeline[-1])
    for metric, traces in by_metric.items():
        fig = go.Figure()
        folds = sorted({fold for fold, _, _ in traces}, key=_fold_number)
        for fold, split, points in sorted(traces, key=lambda t: (_fold_number(t[0]), t[1])):
            steps, values = zip(*points, strict=True)
            steps, values = _thin(np.asarray(steps), np.asarray(values), CURVE_POINTS)
            if len(folds) == 1:
                colour = _COLOURS.get(split or "validation")
            else:
                colour = _PALETTE[folds.index(fold) % len(_PALETTE)]
            fig.add_scatter(
                x=steps.astype(np.int32),
                y=_f32(values),
                mode="lines",
                name=" ".join(p for p in (fold, split) if p) or metric,
                legendgroup=fold or split,
                line={
                    "color": colour,
                    "dash": "dot" if split == "train" else "solid",
                    "width": 1.5,
                },
            )
        if best and len(folds) == 1:
            fig.add_vline(
                x=best,
                line_dash="dash",
                line_color="#52606d",
                annotation_text=f"best iteration {best}",
            )
        fig.update_layout(title=metric, xaxis_title="iteration", yaxis_title=metric)
        figures.append(figure(fig, height=380, compact=True))
    text = "Training (dotted) and validation (solid) loss after each boosting round"
    if any(fold for traces in by_metric.values() for fold, _, _ in traces):
        text += ", per cross-validation fold (the first ten are logged)"
    text += (
        ". A validation loss that turns upward while the training loss keeps falling is "
        "overfitting; early stopping keeps the model at the best round."
    )
    body = grid(*figures) if len(figures) > 1 else figures[0]
    return Section(title, body + note(text))


def _fold_number(fold: str) -> int:
    digits = "".join(ch for ch in fold if ch.isdigit())
    return int(digits) if digits else 0


# -- classification -------------------------------------------------------------------------------
def _classification_sections(run: _Run) -> list[Section]:
    if not run.held_out:
        return [Section("Curves", note("The job has no held-out rows to draw curves on."))]
    sections = [_roc_pr_section(run), _confusion_section(run), _calibration_section(run)]
    if run.problem_type == BINARY:
        sections.append(_threshold_section(run))
    return sections


def _roc_pr_section(run: _Run) -> Section:
    import plotly.graph_objects as go
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    roc, pr = go.Figure(), go.Figure()
    roc.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="chance",
        line={"dash": "dash", "color": "#cbd2d9"},
    )
    if run.problem_type == BINARY:
        positive = run.labels[1]
        for split in run.held_out:
            y, p = run.y[split], run.proba[split][:, 1]
            if len(np.unique(y)) < 2:
                continue
            fpr, tpr, _ = roc_curve(y, p)
            precision, recall, _ = precision_recall_curve(y, p)
            colour = {"color": _COLOURS[split]}
            x, yv = _thin(fpr, tpr, CURVE_POINTS)
            roc.add_scatter(
                x=_f32(x),
                y=_f32(yv),
                mode="lines",
                line=colour,
                name=f"{split} (AUC {roc_auc_score(y, p):.3f})",
            )
            x, yv = _thin(recall, precision, CURVE_POINTS)
            pr.add_scatter(
                x=_f32(x),
                y=_f32(yv),
                mode="lines",
                line=colour,
                name=f"{split} (AP {average_precision_score(y, p):.3f})",
            )
        main = run.held_out[0]
        prevalence = float(np.mean(run.y[main] == 1))
        pr.add_hline(
            y=prevalence,
            line_dash="dash",
            line_color="#cbd2d9",
            annotation_text=f"share of {positive} in {main}: {prevalence:.2f}",
        )
        roc_title, pr_title = "ROC curve", f"Precision-recall curve (positive class {positive!r})"
        text = (
            f"The {run.held_out[0]} split is the main estimate"
            + ("; validation is shown for comparison. " if len(run.held_out) > 1 else ". ")
            + "AP is the average precision (the area under the precision-recall curve)."
        )
    else:
        split = run.held_out[0]
        y, proba = run.y[split], run.proba[split]
        for k in _frequent_classes(y, len(run.labels)):
            truth = y == k
            if truth.all() or not truth.any():
                continue
            fpr, tpr, _ = roc_curve(truth, proba[:, k])
            precision, recall, _ = precision_recall_curve(truth, proba[:, k])
            x, yv = _thin(fpr, tpr, CURVE_POINTS)
            roc.add_scatter(
                x=_f32(x),
                y=_f32(yv),
                mode="lines",
                name=f"{run.labels[k]} (AUC {roc_auc_score(truth, proba[:, k]):.3f})",
                legendgroup=run.labels[k],
            )
            x, yv = _thin(recall, precision, CURVE_POINTS)
            pr.add_scatter(
                x=_f32(x),
                y=_f32(yv),
                mode="lines",
                name=f"{run.labels[k]} (AP {average_precision_score(truth, proba[:, k]):.3f})",
                legendgroup=run.labels[k],
            )
        roc_title = "ROC, each class against the rest"
        pr_title = "Precision-recall, each class against the rest"
        text = f"One curve per class, that class against all others, on the {split} split."
        if len(run.labels) > MAX_CLASS_CURVES:
            text += f" The {MAX_CLASS_CURVES} most frequent classes are drawn."
    roc.update_layout(
        title=roc_title, xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    pr.update_layout(title=pr_title, xaxis_title="recall", yaxis_title="precision")
    for fig in (roc, pr):
        fig.update_xaxes(range=[0, 1])
        fig.update_yaxes(range=[0, 1.02])
    body = grid(figure(roc, height=420, compact=True), figure(pr, height=420, compact=True))
    return Section("ROC and precision-recall", body + note(text))


def _frequent_classes(y: np.ndarray, n_classes: int) -> list[int]:
    counts = np.bincount(y, minlength=n_classes)
    return sorted(np.argsort(-counts, kind="stable")[:MAX_CLASS_CURVES].tolist())


def _confusion_section(run: _Run) -> Section:
    from sklearn.metrics import confusion_matrix

    figures = []
    k = len(run.labels)
    for split in run.held_out:
        predicted = run.model.encoded_labels(run.proba[split])
        matrix = confusion_matrix(run.y[split], predicted, labels=list(range(k)))
        figures.append(
            figure(
                _confusion_figure(matrix, run.labels, f"{split} split ({len(predicted)} rows)"),
                height=min(300 + 32 * k, 900),
                compact=True,
            )
        )
    text = (
        "Rows are the actual class, columns the predicted one; each cell shows the count and its "
        "share of the actual class (the row), so the diagonal is each class's recall."
    )
    if run.problem_type == BINARY:
        text += f" Predictions use the model's decision threshold {run.model.threshold:.2f}."
    return Section("Confusion matrix", grid(*figures) + note(text))


def _confusion_figure(matrix: np.ndarray, labels: list[str], title: str):
    import plotly.graph_objects as go

    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    text = [
        [f"{count}<br>{fraction:.0%}" for count, fraction in zip(row, shares, strict=True)]
        for row, shares in zip(matrix.tolist(), share.tolist(), strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=_f32(share),
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="actual %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="actual")
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def _reliability(hit: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """Quantile-binned mean prediction against observed frequency, and the expected calibration
    error (the row-weighted mean gap)."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    predicted, observed, counts = [], [], []
    for b in range(max(len(edges) - 1, 1)):
        rows = which == b
        if rows.any():
            predicted.append(float(p[rows].mean()))
            observed.append(float(hit[rows].mean()))
            counts.append(int(rows.sum()))
    weights = np.asarray(counts) / max(sum(counts), 1)
    ece = float(np.sum(weights * np.abs(np.asarray(predicted) - np.asarray(observed))))
    return {"predicted": predicted, "observed": observed, "counts": counts, "ece": ece}


def _calibration_section(run: _Run) -> Section:
    import plotly.graph_objects as go
    from sklearn.metrics import brier_score_loss

    curve = go.Figure()
    curve.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="perfectly calibrated",
        line={"dash": "dash", "color": "#cbd2d9"},
    )
    binary = run.problem_type == BINARY
    for split in run.held_out:
        proba = run.proba[split]
        if binary:
            hit, p = run.y[split] == 1, proba[:, 1]
            extra = f", Brier {brier_score_loss(run.y[split], p):.3f}"
        else:
            hit, p = proba.argmax(axis=1) == run.y[split], proba.max(axis=1)
            extra = ""
        points = _reliability(hit.astype(float), p)
        curve.add_scatter(
            x=_f32(points["predicted"]),
            y=_f32(points["observed"]),
            mode="lines+markers",
            name=f"{split} (ECE {points['ece']:.3f}{extra})",
            line={"color": _COLOURS[split]},
            customdata=points["counts"],
            hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows",
        )
    if binary:
        curve.update_layout(
            title=f"Calibration curve of {run.labels[1]!r}",
            xaxis_title="mean predicted probability (per tenth of the rows)",
            yaxis_title="observed share of positives",
        )
    else:
        curve.update_layout(
            title="Calibration of the predicted class",
            xaxis_title="mean probability of the predicted class (per tenth of the rows)",
            yaxis_title="share predicted correctly",
        )
    curve.update_xaxes(range=[0, 1])
    curve.update_yaxes(range=[0, 1.02])
    main = run.held_out[0]
    histogram = go.Figure()
    edges = np.linspace(0, 1, 41)
    centres = (edges[:-1] + edges[1:]) / 2
    if binary:
        p = run.proba[main][:, 1]
        for k, label in enumerate(run.labels):
            counts, _ = np.histogram(p[run.y[main] == k], bins=edges)
            histogram.add_bar(x=_f32(centres), y=counts.astype(np.int32), name=f"actual {label}")
        histogram.update_layout(
            title="Predicted probability by actual class",
            xaxis_title=f"predicted probability of {run.labels[1]!r} ({main} split)",
        )
    else:
        p = run.proba[main].max(axis=1)
        right = run.proba[main].argmax(axis=1) == run.y[main]
        for name, rows in (("correct", right), ("wrong", ~right)):
            counts, _ = np.histogram(p[rows], bins=edges)
            histogram.add_bar(x=_f32(centres), y=counts.astype(np.int32), name=name)
        histogram.update_layout(
            title="Confidence, right and wrong",
            xaxis_title=f"probability of the predicted class ({main} split)",
        )
    histogram.update_layout(barmode="overlay", yaxis_title="rows", bargap=0)
    histogram.update_traces(opacity=0.6)
    body = grid(
        figure(curve, height=420, compact=True), figure(histogram, height=420, compact=True)
    )
    text = (
        "Predictions are grouped into ten bins of equal size; a calibrated model's points lie on "
        "the diagonal. ECE (expected calibration error) is the row-weighted mean distance from it"
        + ("; the Brier score is the mean squared error of the probability." if binary else ".")
    )
    return Section("Calibration", body + note(text))


def threshold_table(y: np.ndarray, scores: np.ndarray) -> list[dict]:
    """Precision, recall and F1 of the positive class at thresholds 0.01 … 0.99."""
    thresholds = np.round(np.linspace(0.01, 0.99, 99), 2)
    predicted = scores[None, :] >= thresholds[:, None]
    positive = (y == 1)[None, :]
    tp = np.sum(predicted & positive, axis=1)
    fp = np.sum(predicted & ~positive, axis=1)
    fn = np.sum(~predicted & positive, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return [
        {
            "threshold": float(t),
            "precision": round(float(p), 6),
            "recall": round(float(r), 6),
            "f1": round(float(f), 6),
        }
        for t, p, r, f in zip(thresholds, precision, recall, f1, strict=True)
    ]


def _threshold_section(run: _Run) -> Section:
    import plotly.graph_objects as go

    result = run.job.result
    stored = (result.get("metrics") or {}).get("threshold_analysis") or result.get(
        "threshold_analysis"
    )
    chosen = result.get("threshold")
    if stored:
        rows, source = stored, ("out-of-fold" if run.cross_validated else "validation")
    else:
        split = "validation" if "validation" in run.held_out else run.held_out[0]
        rows, source = threshold_table(run.y[split], run.proba[split][:, 1]), split
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    for name, colour in (("precision", "#636efa"), ("recall", "#00cc96"), ("f1", "#ab63fa")):
        fig.add_scatter(
            x=_f32(frame["threshold"]),
            y=_f32(frame[name]),
            name=name.upper() if name == "f1" else name,
            mode="lines",
            line={"color": colour},
        )
    has_cost = "cost" in frame and frame["cost"].abs().sum() > 0
    if has_cost:
        fig.add_scatter(
            x=_f32(frame["threshold"]),
            y=_f32(frame["cost"]),
            name="expected cost per row",
            mode="lines",
            line={"color": "#EF553B", "dash": "dot"},
            yaxis="y2",
        )
        fig.update_layout(
            yaxis2={"title": "expected cost per row", "overlaying": "y", "side": "right"}
        )
    best_f1 = frame.loc[frame["f1"].idxmax(), "threshold"]
    model_threshold = chosen if chosen is not None else 0.5
    fig.add_vline(
        x=model_threshold,
        line_dash="dash",
        line_color="#1f2933",
        annotation_text=f"model {model_threshold:.2f}",
    )
    if chosen is None and abs(best_f1 - 0.5) > 1e-9:
        fig.add_vline(
            x=best_f1,
            line_dash="dot",
            line_color="#ab63fa",
            annotation_text=f"best F1 {best_f1:.2f}",
            annotation_position="bottom right",
        )
    fig.update_layout(
        title=f"Precision, recall and F1 of {run.labels[1]!r} by threshold ({source} predictions)",
        xaxis_title="threshold on the predicted probability",
        yaxis_title="score",
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_xaxes(range=[0, 1])
    shown = sorted({0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, round(model_threshold, 2)})
    picked = frame[frame["threshold"].round(2).isin(shown)]
    columns = ["threshold", "precision", "recall", "f1"] + (["cost"] if has_cost else [])
    body = figure(fig, height=440, compact=True) + _table(
        [c if c != "cost" else "expected cost per row" for c in columns],
        [[f"{row[0]:.2f}", *row[1:]] for row in picked[columns].astype(object).values.tolist()],
    )
    if chosen is not None:
        text = (
            f"At training time a false positive cost {run.job.spec.get('cost_fp') or 0} and a "
            f"false negative {run.job.spec.get('cost_fn') or 0}; threshold {chosen:.2f} minimises "
            f"the expected cost on the {source} predictions, and the model uses it."
        )
    else:
        text = (
            f"No business cost was given, so the model predicts {run.labels[1]!r} from "
            f"probability 0.50; on the {source} split F1 peaks at {best_f1:.2f}. To let cost "
            "pick the threshold, retrain with 'kiln train ... --cost-fp C --cost-fn C'."
        )
    return Section("Threshold analysis", body + note(text))


# -- regression -----------------------------------------------------------------------------------
def _regression_sections(run: _Run) -> list[Section]:
    import plotly.graph_objects as go

    if not run.held_out:
        return [Section("Predictions", note("The job has no held-out rows to plot."))]
    rng = np.random.default_rng(run.seed)
    scatter, residuals, histogram = go.Figure(), go.Figure(), go.Figure()
    low, high, stats = np.inf, -np.inf, []
    residual_all = np.concatenate([run.y[s] - run.values[s] for s in run.held_out])
    edges = np.histogram_bin_edges(residual_all, bins=40)
    for split in run.held_out:
        actual, predicted = run.y[split], run.values[split]
        error = actual - predicted
        low = min(low, actual.min(), predicted.min())
        high = max(high, actual.max(), predicted.max())
        rows = np.arange(len(actual))
        if len(rows) > SCATTER_POINTS:
            rows = np.sort(rng.choice(rows, SCATTER_POINTS, replace=False))
        colour = {"color": _COLOURS[split], "size": 5, "opacity": 0.6}
        scatter.add_scattergl(
            x=_f32(actual[rows]), y=_f32(predicted[rows]), mode="markers", marker=colour, name=split
        )
        residuals.add_scattergl(
            x=_f32(predicted[rows]), y=_f32(error[rows]), mode="markers", marker=colour, name=split
        )
        counts, _ = np.histogram(error, bins=edges)
        histogram.add_bar(
            x=_f32((edges[:-1] + edges[1:]) / 2),
            y=counts.astype(np.int32),
            name=split,
            marker={"color": _COLOURS[split]},
            opacity=0.6,
        )
        scores = evaluate(REGRESSION, actual, y_pred=predicted)
        stats.append(
            [
                split,
                len(actual),
                float(error.mean()),
                float(np.median(np.abs(error))),
                scores.get("mae"),
                scores.get("rmse"),
                scores.get("r2"),
            ]
        )
    scatter.add_scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        name="perfect",
        line={"dash": "dash", "color": "#9aa5b1"},
    )
    scatter.update_layout(
        title="Predicted against actual",
        xaxis_title=f"actual {run.target}",
        yaxis_title=f"predicted {run.target}",
    )
    residuals.add_hline(y=0, line_dash="dash", line_color="#9aa5b1")
    residuals.update_layout(
        title="Residuals against predictions",
        xaxis_title=f"predicted {run.target}",
        yaxis_title="residual (actual − predicted)",
    )
    histogram.update_layout(
        title="Distribution of residuals",
        barmode="overlay",
        bargap=0,
        xaxis_title="residual (actual − predicted)",
        yaxis_title="rows",
    )
    sampled = any(len(run.y[s]) > SCATTER_POINTS for s in run.held_out)
    first = grid(
        figure(scatter, height=440, compact=True), figure(residuals, height=440, compact=True)
    ) + note(
        "Points on the dashed diagonal are predicted exactly; a cloud that flattens towards the "
        "mean at the extremes is a model that shrinks large and small values. Residuals should "
        "scatter evenly around zero at every prediction level: a trend or a funnel shape means "
        "the model misses structure or the error grows with the value (consider a "
        "log-transformed target)."
        + (f" A sample of {SCATTER_POINTS} rows per split is drawn." if sampled else "")
    )
    stats_table = _table(
        ["split", "rows", "mean residual", "median |residual|", "MAE", "RMSE", "R²"], stats
    )
    second = grid(figure(histogram, height=400, compact=True), stats_table) + note(
        "The mean residual is the model's bias (positive: it predicts too low on average)."
    )
    return [Section("Predicted against actual", first), Section("Residuals", second)]


# -- feature importance ---------------------------------------------------------------------------
def _importance_rows(run: _Run) -> tuple[str, pd.DataFrame, np.ndarray] | None:
    split = next(iter(run.held_out), None)
    if split is None:
        return None
    frame, y = run.frames[split], run.y[split]
    if len(y) > IMPORTANCE_ROWS:
        rows = np.sort(
            np.random.default_rng(run.seed).choice(len(y), IMPORTANCE_ROWS, replace=False)
        )
        frame, y = frame.iloc[rows], y[rows]
    return split, frame[run.model.input_columns], y


def _permutation_section(run: _Run) -> Section:
    import plotly.graph_objects as go
    from sklearn.inspection import permutation_importance

    title = "Permutation importance"
    picked = _importance_rows(run)
    if picked is None:
        return Section(title, note("No held-out rows to measure importance on."))
    split, X, y = picked
    scoring = _SCORERS[run.problem_type]
    # Slow predictors (kernel SVMs, big forests) get fewer rows, to stay within the budget.
    tick = time.perf_counter()
    if run.problem_type == REGRESSION:
        run.model.pipeline.predict(X)
    else:
        run.model.pipeline.predict_proba(X)
    projected = (time.perf_counter() - tick) * X.shape[1] * PERMUTATION_REPEATS
    reduced = projected > PERMUTATION_SECONDS and len(y) > PERMUTATION_MIN_ROWS
    if reduced:
        keep = max(PERMUTATION_MIN_ROWS, int(len(y) * PERMUTATION_SECONDS / projected))
        rows = np.sort(np.random.default_rng(run.seed).permutation(len(y))[:keep])
        X, y = X.iloc[rows], y[rows]
    if run.problem_type != REGRESSION and len(np.unique(y)) < 2:
        return Section(title, note(f"The {split} split holds a single class."))
    result = permutation_importance(
        run.model.pipeline,
        X,
        y,
        scoring=scoring,
        n_repeats=PERMUTATION_REPEATS,
        random_state=run.seed,
        n_jobs=1,
    )
    order = np.argsort(-result.importances_mean, kind="stable")
    top = order[:TOP_FEATURES][::-1]
    label = METRIC_LABELS[SKILL_METRIC[run.problem_type]]
    fig = go.Figure(
        go.Bar(
            x=_f32(result.importances_mean[top]),
            y=[X.columns[i] for i in top],
            orientation="h",
            error_x={"type": "data", "array": _f32(result.importances_std[top])},
            marker={"color": "#636efa"},
        )
    )
    fig.update_layout(
        title=f"Drop in {label} when a column is shuffled ({split} split, {len(y)} rows)",
        xaxis_title=f"mean decrease in {label}",
    )
    useless = [X.columns[i] for i in order if result.importances_mean[i] <= 0]
    text = (
        f"Each input column is shuffled {PERMUTATION_REPEATS} times (seeded) and the model "
        f"re-scored; the bar is the mean drop in {label}, the whisker its standard deviation. "
        "Shuffling breaks the column's link to the target, so it works for every model, recipe "
        "included. Correlated columns share their importance."
    )
    if len(X.columns) > TOP_FEATURES:
        text += f" The top {TOP_FEATURES} of {len(X.columns)} columns are shown."
    if reduced:
        text += (
            f" The model predicts slowly, so {len(y)} rows are used to keep this to about "
            f"{PERMUTATION_SECONDS:.0f} s."
        )
    body = figure(fig, height=max(300, 24 * len(top) + 120), compact=True) + note(text)
    if useless:
        shown = ", ".join(useless[:15]) + (" …" if len(useless) > 15 else "")
        body += note(f"No measurable effect (candidates to drop): {shown}.")
    return Section(title, body)


def _shap_section(run: _Run) -> Section:
    import plotly.graph_objects as go

    title = "SHAP values"
    picked = _importance_rows(run)
    if picked is None:
        return Section(title, note("No held-out rows to explain."))
    split, X, _ = picked
    preprocessor, estimator = run.model.pipeline[:-1], run.model.pipeline[-1]
    try:
        Xt = preprocessor.transform(X)
        values, method, units = shap_values(estimator, Xt)
    except ShapUnavailable as exc:
        return Section(title, note(str(exc)))
    except Exception as exc:  # an optional section: say why, and keep the rest of the report
        return Section(
            title,
            note(
                f"SHAP values could not be computed for {type(estimator).__name__} "
                f"({type(exc).__name__}: {exc}). Permutation importance above covers every model."
            ),
        )
    names = transformed_feature_names(preprocessor, values.shape[-1])
    # values: (rows, outputs, features); mean |SHAP| per output and feature.
    strength = np.abs(values).mean(axis=0)
    total = strength.sum(axis=0)
    top = np.argsort(-total, kind="stable")[:TOP_FEATURES][::-1]
    fig = go.Figure()
    if strength.shape[0] == 1:
        fig.add_bar(
            x=_f32(strength[0, top]),
            y=[names[i] for i in top],
            orientation="h",
            marker={"color": "#00cc96"},
            name="mean |SHAP|",
        )
    else:
        for k in range(strength.shape[0]):
            fig.add_bar(
                x=_f32(strength[k, top]),
                y=[names[i] for i in top],
                orientation="h",
                name=run.labels[k] if k < len(run.labels) else f"output {k}",
            )
        fig.update_layout(barmode="stack")
    fig.update_layout(
        title=f"Mean |SHAP value| per model feature ({split} split, {values.shape[0]} rows)",
        xaxis_title=f"mean |SHAP value| ({units})",
    )
    text = (
        f"SHAP values from {method}, on the features the model sees (after the recipe: one-hot "
        "columns, missing-value indicators). Each is a feature's contribution to one prediction; "
        "the bar is its mean size over the rows"
        + (", stacked by class." if strength.shape[0] > 1 else ".")
    )
    if len(names) > TOP_FEATURES:
        text += f" The top {TOP_FEATURES} of {len(names)} features are shown."
    return Section(
        title, figure(fig, height=max(300, 24 * len(top) + 120), compact=True) + note(text)
    )


# -- clustering -----------------------------------------------------------------------------------
def clustering_section(
    X,
    labels_pred,
    labels_true=None,
    *,
    seed: int = 42,
    sample_size: int = 5000,
) -> tuple[Section, dict]:
    """The clustering section of a report, and its metrics.

    Parameters
    ----------
    X
        The feature matrix the clusters were found in (numeric: the recipe's output), dense or
        scipy sparse, or a DataFrame of numeric columns.
    labels_pred
        The cluster of each row; ``-1`` marks noise (DBSCAN) and is left out of the internal
        scores.
    labels_true
        Known classes of the rows, if any: adds the Rand index, the adjusted Rand index, the
        adjusted mutual information and a contingency table.
    seed, sample_size
        The silhouette is computed on a seeded sample of at most ``sample_size`` rows.

    Returns
    -------
    (Section, dict)
        The section, and ``{"clusters", "noise_share", "silhouette", "davies_bouldin",
        "calinski_harabasz", "rand", "adjusted_rand", "adjusted_mutual_info", "sizes"}`` (scores
        that cannot be computed, e.g. with a single cluster, are ``None``).
    """
    import plotly.graph_objects as go
    import scipy.sparse as sp

    if isinstance(X, pd.DataFrame):
        X = X.select_dtypes("number").to_numpy(dtype=float)
    elif not sp.issparse(X):
        X = np.asarray(X, dtype=float)
    labels = np.asarray(labels_pred)
    if X.shape[0] != len(labels):
        raise DataError(
            f"X has {X.shape[0]} rows but there are {len(labels)} cluster labels.",
            code="reports.bad-clustering-input",
        )
    clustered = labels != -1
    cluster_ids = sorted(set(labels[clustered].tolist()))
    sizes = {str(c): int(np.sum(labels == c)) for c in cluster_ids}
    if not clustered.all():
        sizes["noise"] = int(np.sum(~clustered))
    truth = None
    if labels_true is not None:
        truth = np.asarray(labels_true).astype(str)
        if len(truth) != len(labels):
            raise DataError(
                f"There are {len(labels)} cluster labels but {len(truth)} true labels.",
                code="reports.bad-clustering-input",
            )
    metrics: dict[str, Any] = dict.fromkeys(
        (
            "silhouette",
            "davies_bouldin",
            "calinski_harabasz",
            "rand",
            "adjusted_rand",
            "adjusted_mutual_info",
        )
    )
    metrics.update(clustering_metrics(X, labels, truth, seed=seed, sample_size=sample_size))
    metrics["sizes"] = sizes

    described = {
        "clusters": "number of clusters found (noise excluded)",
        "noise_share": "share of rows in no cluster (DBSCAN noise)",
        "silhouette": "-1 … 1, higher is better: rows sit closer to their own cluster than to "
        "the next one",
        "davies_bouldin": "0 … ∞, lower is better: how similar each cluster is to its closest one",
        "calinski_harabasz": "higher is better: between-cluster against within-cluster spread",
        "rand": "0 … 1: share of row pairs on which clusters and labels agree",
        "adjusted_rand": "-0.5 … 1: the Rand index corrected for chance (0: random, 1: identical)",
        "adjusted_mutual_info": "0 … 1: information shared by clusters and labels, "
        "chance-corrected",
    }
    rows = [
        [name, metrics[name], meaning]
        for name, meaning in described.items()
        if metrics[name] is not None or name in ("silhouette", "davies_bouldin")
    ]
    body = _table(["metric", "value", "meaning"], rows)
    if metrics["silhouette"] is None:
        body += note("Internal scores need at least two clusters (and fewer clusters than rows).")

    figures = []
    size_fig = go.Figure(go.Bar(x=list(sizes), y=list(sizes.values()), marker={"color": "#636efa"}))
    size_fig.update_layout(title="Rows per cluster", xaxis_title="cluster", yaxis_title="rows")
    size_fig.update_xaxes(type="category")
    figures.append(figure(size_fig, height=360, compact=True))
    if X.shape[0] >= 3 and X.shape[1] >= 2:
        rng = np.random.default_rng(seed)
        rows_shown = np.arange(X.shape[0])
        if len(rows_shown) > SCATTER_POINTS:
            rows_shown = np.sort(rng.choice(rows_shown, SCATTER_POINTS, replace=False))
        if sp.issparse(X):
            from sklearn.decomposition import TruncatedSVD

            projected = TruncatedSVD(2, random_state=seed).fit_transform(X[rows_shown])
            how = "truncated SVD"
        else:
            from sklearn.decomposition import PCA

            projected = PCA(2, random_state=seed).fit_transform(X[rows_shown])
            how = "PCA"
        scatter = go.Figure()
        shown_labels = labels[rows_shown]
        for c in [*cluster_ids, -1]:
            mask = shown_labels == c
            if mask.any():
                scatter.add_scattergl(
                    x=_f32(projected[mask, 0]),
                    y=_f32(projected[mask, 1]),
                    mode="markers",
                    marker={"size": 5, "opacity": 0.7, **({"color": "#9aa5b1"} if c == -1 else {})},
                    name="noise" if c == -1 else f"cluster {c}",
                )
        scatter.update_layout(
            title=f"Rows in two dimensions ({how})",
            xaxis_title="component 1",
            yaxis_title="component 2",
        )
        figures.append(figure(scatter, height=360, compact=True))
    body += grid(*figures)
    if truth is not None:
        classes = sorted(set(truth.tolist()))
        columns = [str(c) for c in cluster_ids] + (["noise"] if not clustered.all() else [])
        keys = [*cluster_ids, -1][: len(columns)]
        matrix = np.array(
            [[int(np.sum((truth == t) & (labels == c))) for c in keys] for t in classes]
        )
        heat = go.Figure(
            go.Heatmap(
                z=matrix.astype(np.int32),
                x=columns,
                y=classes,
                text=matrix.tolist(),
                texttemplate="%{text}",
                colorscale="Blues",
                showscale=False,
                hovertemplate="label %{y}<br>cluster %{x}<br>%{z} rows<extra></extra>",
            )
        )
        heat.update_layout(title="Known labels against clusters", xaxis_title="cluster")
        heat.update_xaxes(type="category")
        heat.update_yaxes(type="category", autorange="reversed")
        body += figure(heat, height=min(300 + 28 * len(classes), 900), compact=True)
    return Section("Clustering", body), metrics


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
