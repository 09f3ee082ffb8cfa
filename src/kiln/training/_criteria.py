"""Success criteria: a model checked against ``--require`` criteria and a problem spec.

The metric criteria themselves (``roc_auc>=0.85``) are defined in kiln.problems, beside the
metric table and the problem spec that also read them. Here they meet a fitted model: metric
thresholds on its held-out metrics, the expected cost per 1,000 predictions from its held-out
confusion matrix against a baseline, and the p99 latency of single-row predictions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kiln.errors import ConfigError
from kiln.problems import (
    CostSpec,
    Criterion,
    Problem,
    check_metric_names,
    cost_classes_error,
    parse_criterion,
)
from kiln.registry import TrainedModel

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context
    from kiln.registry import ModelVersion

__all__ = [
    "Criterion",
    "check_metric_names",
    "decide_approval",
    "evaluate_criteria",
    "evaluate_model",
    "log_criteria",
    "parse_criterion",
]

# Where the confusion matrix of held-out predictions is read from, in order of preference.
_HELD_OUT = ("test", "validation", "oof")
# Single-row predictions timed for the latency criterion, after a few untimed ones.
LATENCY_ROWS, LATENCY_WARMUP = 100, 5


def evaluate_model(
    problem: Problem | None,
    require: list[str] | None,
    *,
    model: TrainedModel,
    metrics: dict,
    rows: pd.DataFrame | None,
) -> dict:
    """Every criterion of ``require`` and of ``problem`` checked on a model:
    ``{"problem": "churn:2" | None, "passed": bool, "results": [...]}``.

    Each result has ``criterion``, ``kind`` (metric, cost or latency), ``value``,
    ``threshold`` and ``passed``; ``rows`` are the rows the latency is measured on."""
    results = []
    for text in require or []:
        results.append(parse_criterion(text).check(metrics) | {"source": "require"})
    if problem is not None:
        criteria = problem.criteria
        for criterion in criteria.metrics:
            results.append(criterion.check(metrics) | {"source": problem.ref})
        if criteria.cost is not None:
            for result in cost_results(criteria.cost, model.classes or [], metrics):
                results.append(result | {"source": problem.ref})
        if criteria.latency_p99_ms is not None:
            results.append(
                latency_result(model, rows, criteria.latency_p99_ms) | {"source": problem.ref}
            )
    return {
        "problem": problem.ref if problem is not None else None,
        "passed": all(r["passed"] for r in results),
        "results": results,
    }


def cost_results(cost: CostSpec, classes: list, metrics: dict) -> list[dict]:
    """The cost criteria: the model's expected cost per 1,000 predictions (from the confusion
    matrix of its held-out predictions) against ``max_per_1000`` and against the baseline."""
    split = next((s for s in _HELD_OUT if (metrics.get(s) or {}).get("confusion_matrix")), None)
    labels = [str(c) for c in classes]
    baseline_name = cost.baseline_name
    texts = []
    if cost.max_per_1000 is not None:
        texts.append((f"cost per 1,000 predictions <= {cost.max_per_1000:g}", None))
    if cost.beat_baseline_by is not None:
        share = 1 - cost.beat_baseline_by
        texts.append(
            (f"cost per 1,000 predictions <= {share:.0%} of the baseline ({baseline_name})", share)
        )
    if split is None or set(cost.classes) != set(labels):
        why = (
            "no held-out confusion matrix"
            if split is None
            else f"the matrix's classes {cost.classes} are not the model's {labels}"
        )
        return [
            {
                "criterion": text,
                "kind": "cost",
                "value": None,
                "threshold": cost.max_per_1000 if share is None else None,
                "passed": False,
                "note": why,
            }
            for text, share in texts
        ]
    confusion = np.asarray(metrics[split]["confusion_matrix"], dtype=float)
    prices = np.array([[cost.matrix[a][p] for p in labels] for a in labels], dtype=float)
    rows = confusion.sum()
    model_cost = float(1000 * (confusion * prices).sum() / rows)
    actual = confusion.sum(axis=1)
    if isinstance(cost.baseline, str):
        predicted = int(actual.argmax()) if cost.baseline == "majority" else 0
    else:
        predicted = labels.index(cost.baseline["predict"])
    baseline_cost = float(1000 * (actual * prices[:, predicted]).sum() / rows)
    out = []
    for text, share in texts:
        threshold = cost.max_per_1000 if share is None else baseline_cost * share
        out.append(
            {
                "criterion": text,
                "kind": "cost",
                "split": split,
                "value": round(model_cost, 4),
                "threshold": round(threshold, 4),
                "passed": bool(model_cost <= threshold),
                "baseline": f"{baseline_name}: every row predicted {labels[predicted]!r}",
                "baseline_value": round(baseline_cost, 4),
            }
        )
    return out


def latency_result(model: TrainedModel, rows: pd.DataFrame | None, budget_ms: float) -> dict:
    """The p99 latency of single-row predictions (as an endpoint makes them: one thread) over
    up to LATENCY_ROWS held-out rows, against the budget."""
    text = f"p99 single-row latency <= {budget_ms:g} ms"
    if rows is None or len(rows) == 0:
        return {
            "criterion": text,
            "kind": "latency",
            "value": None,
            "threshold": budget_ms,
            "passed": False,
            "note": "no rows to time predictions on",
        }
    served = TrainedModel.from_bytes(model.to_bytes())  # a copy: the stored model keeps its threads
    served.set_threads(1)
    sample = rows.head(LATENCY_ROWS)
    for i in range(min(LATENCY_WARMUP, len(sample))):
        served.predictions(sample.iloc[[i]])
    timings = []
    for i in range(len(sample)):
        row = sample.iloc[[i]]
        started = time.perf_counter()
        served.predictions(row)
        timings.append((time.perf_counter() - started) * 1000)
    p99 = float(np.percentile(timings, 99))
    return {
        "criterion": text,
        "kind": "latency",
        "value": round(p99, 3),
        "threshold": budget_ms,
        "passed": bool(p99 <= budget_ms),
        "p50_ms": round(float(np.percentile(timings, 50)), 3),
        "rows": len(timings),
    }


def log_criteria(criteria: dict, log: Callable[..., None]) -> None:
    """One log line per criterion: what it is, the value, pass or FAIL."""
    for result in criteria["results"]:
        where = f" on {result['split']}" if result.get("split") else ""
        value = result["value"] if result["value"] is not None else f"none ({result.get('note')})"
        log(
            f"Criterion {result['criterion']}{where}: {value} → "
            f"{'pass' if result['passed'] else 'FAIL'}."
        )


def failure_reason(criteria: dict) -> str:
    """``Failed success criteria: recall >= 0.7 (got 0.52 on test); ...``."""
    parts = []
    for r in criteria["results"]:
        if r["passed"]:
            continue
        where = f" on {r['split']}" if r.get("split") else ""
        got = r["value"] if r["value"] is not None else r.get("note", "no value")
        parts.append(f"{r['criterion']} (got {got}{where})")
    return "Failed success criteria: " + "; ".join(parts)


def decide_approval(
    workspace: Context,
    version: ModelVersion,
    criteria: dict,
    problem: Problem | None,
    log: Callable[..., None],
) -> ModelVersion:
    """Reject a version that failed a criterion (the failures are the reason); approve a passing
    one when its problem says ``auto_approve``; otherwise leave it pending."""
    if not criteria["results"]:
        return version
    if not criteria["passed"]:
        reason = failure_reason(criteria)
        log(reason, level="WARNING")
        return workspace.models.reject(version.ref, reason=reason)
    if problem is not None and problem.auto_approve:
        reason = f"meets problem {problem.ref}"
        log(f"Approved {version.ref}: {reason} (auto_approve).")
        return workspace.models.approve(version.ref, reason=reason)
    return version


def criteria_details(criteria: dict) -> dict:
    """What a model version's details hold: ``problem`` (when named) and ``criteria``."""
    if not criteria["results"]:
        return {}
    out = {"criteria": {"passed": criteria["passed"], "results": criteria["results"]}}
    if criteria["problem"]:
        out["problem"] = criteria["problem"]
    return out


def evaluate_criteria(workspace: Context, model_ref: str, problem_ref: str) -> dict:
    """Check any registered model against a problem's criteria: ``{"passed": bool, "results":
    [...]}`` as a model version's details hold it (see :func:`evaluate_model`).

    Metric criteria read the version's stored metrics; the cost its held-out confusion matrix;
    the latency is timed here, on the test split of the job that trained it (else on rows of
    its data set version)."""
    version = workspace.models.get(model_ref)
    problem = workspace.problems.get(problem_ref)
    model = workspace.models.load(version)
    cost = problem.criteria.cost
    if cost is not None and model.classes is not None:
        error = cost_classes_error(
            cost.to_dict(), model.classes, target=version.target, where=f"problem {problem.ref}"
        )
        if error is not None:
            raise error
    if cost is not None and model.classes is None:
        raise ConfigError(
            f"Problem {problem.ref} has a cost matrix over classes, but model {version.ref} is a "
            f"{version.problem_type} model with no classes.",
            code="problem.bad-cost",
        )
    rows = None
    if problem.criteria.latency_p99_ms is not None:
        job = workspace.jobs.get(version.job_id) if version.job_id else None
        splits = ((job.result or {}).get("splits") or {}) if job is not None else {}
        rows = held_out_rows(workspace, splits, version.dataset_version_id)
    checked = evaluate_model(problem, [], model=model, metrics=version.metrics, rows=rows)
    return {"passed": checked["passed"], "results": checked["results"]}


def held_out_rows(
    workspace: Context, splits: dict, dataset_version_id: str | None = None
) -> pd.DataFrame | None:
    """Rows to time a model on: its test split (``splits`` as a training job's result records
    them), else the validation split, else rows of data set version ``dataset_version_id``."""
    for part in ("test", "validation"):
        if splits.get(part):
            frame = workspace.data.load(splits[part]).head(LATENCY_ROWS)
            if len(frame):
                return frame
    if dataset_version_id is not None:
        dataset = workspace.data.get_by_id(dataset_version_id)
        return workspace.data.load(dataset).head(LATENCY_ROWS)
    return None


def resolve_problem(
    workspace: Context,
    ref: str,
    dataset,
    *,
    target: str | None,
    problem_type: str | None,
) -> tuple[Problem, str | None, str | None]:
    """The problem a job names, and the job's target and problem type defaulted from it.

    An explicit target or problem type that differs from the problem's is refused with both
    values; the problem's target (and its cost matrix's classes) are checked against the data
    set before any job starts."""
    from kiln.problems import check_target

    problem = workspace.problems.get(ref)
    for option, given, own in (
        ("target", target, problem.target),
        ("problem_type", problem_type, problem.problem_type),
    ):
        if given is not None and own is not None and given != own:
            raise ConfigError(
                f"--{option.replace('_', '-')} {given!r} conflicts with problem {problem.ref}, "
                f"whose {option} is {own!r}. Leave --{option.replace('_', '-')} out (it "
                "defaults from the problem), or create a new version of the problem.",
                code="problem.conflict",
                field=option,
            )
    if problem.target is not None:
        check_target(workspace, problem.spec, dataset, where=f"problem {problem.ref}")
    return problem, target or problem.target, problem_type or problem.problem_type


def check_problem_fits(problem: Problem, kind: str | None) -> None:
    """Refuse a job whose problem type (inferred, when the problem names none) cannot meet the
    problem's criteria: a metric it does not report, a cost matrix without classes."""
    from kiln.problems import BINARY, MULTICLASS, metric_names

    criteria = problem.criteria
    check_metric_names(
        criteria.metrics,
        metric_names(kind),
        problem_type=kind,
        code="problem.unknown-metric",
        field=f"problem {problem.ref} criteria",
    )
    if criteria.cost is not None and kind not in (BINARY, MULTICLASS):
        raise ConfigError(
            f"Problem {problem.ref} has a cost matrix over classes, but this is a {kind} "
            "problem. Remove 'cost' from the problem, or train a classifier.",
            code="problem.bad-cost",
            field="cost",
        )
