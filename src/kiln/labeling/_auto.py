"""Automated labelling (active learning), as Ground Truth does it: a small model is trained on
the human-labelled items; its cross-validated predictions on them (the check set) choose the
lowest confidence threshold at which its labels are at least ``target_accuracy`` right; unlabelled
items it is that confident about are labelled ``automatic``, and the rest are handed to humans
least-confident first. A round runs on request, and by itself (in a thread, off the answering
request) once ``min_labels`` human labels exist and each time ``batch`` more arrive."""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import exists, func, select, update

from kiln.errors import ConfigError, StateError
from kiln.labeling._jobs import LabelingJob, get_job
from kiln.labeling._workflow import consolidate_job
from kiln.store import LabelingItemRow, LabelingJobRow, LabelingTaskRow, now

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context

__all__ = [
    "auto_label_settings",
    "fit_round",
    "human_label_count",
    "is_check_item",
    "maybe_start_round",
    "check_share",
    "run_round",
    "shuffle_queue",
    "wait_for_rounds",
]

_log = logging.getLogger(__name__)
# From this many human labels a tabular job's model is gradient boosting, below it logistic.
GRADIENT_BOOSTING_FROM = 500
# The check set is at most this share of a job's items (a small job keeps most for the model).
MAX_CHECK_SHARE = 0.2
# Fewer labelled check items than this, and every human label is the check set.
MIN_CHECK = 50
_RUNNING: dict[str, threading.Thread] = {}
_RUNNING_LOCK = threading.Lock()


def auto_label_settings(
    task: str,
    *,
    target_accuracy: float = 0.95,
    min_labels: int = 50,
    batch: int | None = None,
    check_size: int = 200,
) -> dict:
    """Checked automated-labelling settings. ``batch`` (how many new human labels start another
    round) defaults to half of ``min_labels``, at least 10; ``check_size`` is about how many
    randomly drawn items are kept for humans as the check set the threshold is chosen on."""
    if task != "classification":
        raise ConfigError(
            f"Automated labelling is for classification jobs; this is a {task} job.",
            code="labeling.auto-label-task",
            field="auto_label",
        )
    if not isinstance(target_accuracy, int | float) or not 0.5 <= target_accuracy < 1.0:
        raise ConfigError(
            f"target_accuracy={target_accuracy!r}: give a share from 0.5 to below 1 (e.g. 0.95), "
            "the accuracy automatic labels must reach on the human-labelled check set.",
            code="labeling.bad-auto-label",
            field="target_accuracy",
        )
    for key, value in (("min_labels", min_labels), ("batch", batch), ("check_size", check_size)):
        if value is not None and (not isinstance(value, int) or value < 10):
            raise ConfigError(
                f"{key}={value!r}: give a whole number of at least 10 (human labels a model "
                "can be trained and checked on).",
                code="labeling.bad-auto-label",
                field=key,
            )
    return {
        "target_accuracy": float(target_accuracy),
        "min_labels": min_labels,
        "batch": batch or max(10, min_labels // 2),
        "check_size": check_size,
    }


def is_check_item(job_id: str, item: str, share: float) -> bool:
    """Whether an item belongs to the job's check set: a fixed pseudo-random draw of about
    ``share`` of the items (a hash, so it needs no storage and never changes). Check items are
    never labelled automatically: their human labels stay a random sample, the only kind an
    accuracy estimate can be made on once the rest of the queue is ordered least-confident
    first."""
    digest = hashlib.sha256(f"{job_id}:{item}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def shuffle_queue(ctx: Context, job: LabelingJob, *, check_size: int) -> None:
    """Hand the open items out in a random order (seeded by the job), the check items first:
    the first human labels are then the check set, a random sample, as the threshold needs."""
    with ctx.store.write() as session:
        rows = session.execute(
            select(LabelingItemRow.id, LabelingItemRow.item).where(
                (LabelingItemRow.job_id == job.id) & (LabelingItemRow.status == "open")
            )
        ).all()
        total = session.scalar(select(func.count()).where(LabelingItemRow.job_id == job.id))
        share = check_share(check_size, total)
        order = np.random.default_rng(_seed(job.id)).permutation(len(rows)).astype(float)
        first = np.array([is_check_item(job.id, item, share) for _, item in rows], bool)
        order[first] -= len(rows)
        if rows:
            session.execute(
                update(LabelingItemRow),
                [{"id": i, "priority": float(p)} for (i, _), p in zip(rows, order, strict=True)],
            )


def check_share(check_size: int, items: int) -> float:
    """The share of a job's items drawn for its check set."""
    return min(MAX_CHECK_SHARE, check_size / max(1, items))


def _seed(job_id: str) -> int:
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:4], "big")


def _model(media: str, frame: pd.DataFrame, content: str | None):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    if media == "text":
        pick = FunctionTransformer(lambda x: x[content].fillna("").astype(str))
        return make_pipeline(
            pick, TfidfVectorizer(sublinear_tf=True, min_df=1), LogisticRegression(max_iter=1000)
        )
    numeric = [c for c in frame.columns if frame[c].dtype.kind in "biuf"]
    other = [c for c in frame.columns if c not in numeric]
    # A review job's items come from JSON requests, so one column can hold 7 and "7": the
    # encoder refuses mixed types, so every category is its text (a missing value stays None).
    categories = make_pipeline(
        FunctionTransformer(_as_text),
        OneHotEncoder(handle_unknown="ignore", max_categories=30, sparse_output=False),
    )
    if len(frame) >= GRADIENT_BOOSTING_FROM:
        encode = ColumnTransformer(
            [("numeric", "passthrough", numeric), ("other", categories, other)]
        )
        return make_pipeline(encode, HistGradientBoostingClassifier(random_state=0))
    # Few labels: gradient boosting's leaves need 20 rows each, a linear model does not.
    scaled = make_pipeline(SimpleImputer(), StandardScaler())
    encode = ColumnTransformer([("numeric", scaled, numeric), ("other", categories, other)])
    return make_pipeline(encode, LogisticRegression(max_iter=1000))


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Category columns as text, a missing value as None (what the one-hot encoder takes)."""
    return frame.astype(object).where(frame.notna(), None).map(lambda v: v if v is None else str(v))


def fit_round(
    labeled: pd.DataFrame,
    y: np.ndarray,
    unlabeled: pd.DataFrame,
    *,
    media: str,
    content: str | None,
    target_accuracy: float,
    check: np.ndarray | None = None,
) -> dict[str, Any]:
    """One round on plain frames: the threshold chosen on cross-validated predictions of the
    labelled rows (those ``check`` marks, default all: the check set), the estimated accuracy and
    coverage above it, and the unlabelled rows' predicted labels and confidences. ``threshold``
    is None when no threshold meets the target (nothing is labelled automatically)."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(y, dtype=object)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        return {"skipped": "Each of at least two labels needs two human labels to train on."}
    model = _model(media, labeled, content)
    folds = StratifiedKFold(n_splits=int(min(5, counts.min())), shuffle=True, random_state=0)
    predicted = cross_val_predict(clone(model), labeled, y, cv=folds, method="predict_proba")
    check = np.ones(len(y), bool) if check is None else np.asarray(check, bool)
    check_conf = predicted.max(axis=1)[check]
    check_right = (classes[predicted.argmax(axis=1)] == y)[check]
    threshold, estimated, bound, coverage = None, None, None, 0.0
    # The lowest threshold whose check items at or above it are right often enough, judged by
    # the lower end of a one-sided 95 % Wilson interval: the plain share, taken at the best of
    # many thresholds on a few hundred items, promises more than new items then deliver.
    order = np.argsort(-check_conf, kind="stable")
    ranked = check_conf[order]
    counts_above = np.arange(1, len(order) + 1)
    lower = _wilson_lower(np.cumsum(check_right[order]), counts_above)
    ends = np.r_[ranked[1:] < ranked[:-1], True]  # a threshold takes a whole tie group
    meets = np.flatnonzero((lower >= target_accuracy) & ends)
    if len(meets):
        last = meets[-1]
        threshold = float(ranked[last])
        estimated = float(check_right[order][: last + 1].mean())
        bound, coverage = float(lower[last]), float((last + 1) / len(order))
    model.fit(labeled, y)
    if len(unlabeled):
        proba = model.predict_proba(unlabeled)
        predicted, confidence = model.classes_[proba.argmax(axis=1)], proba.max(axis=1)
    else:
        predicted, confidence = np.array([], dtype=object), np.array([])
    return {
        "threshold": threshold,
        "estimated_accuracy": estimated,
        "accuracy_lower_bound": bound,
        "check_coverage": coverage,
        "check_size": int(check.sum()),
        "check_accuracy_all": float(check_right.mean()),
        "predicted": predicted,
        "confidence": confidence,
    }


def _wilson_lower(right: np.ndarray, total: np.ndarray, z: float = 1.0) -> np.ndarray:
    """The lower end of the Wilson score interval of ``right / total`` (Wilson 1927)."""
    share = right / total
    centre = share + z * z / (2 * total)
    spread = z * np.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return (centre - spread) / (1 + z * z / total)


def run_round(ctx: Context, name: str, *, method: str = "dawid-skene") -> dict:
    """One automated-labelling round on a job (settings from ``job.settings["auto_label"]``):
    consolidate the human answers, train, label the confident items automatically, order the
    rest least-confident first, and record the round on the job. Returns the round."""
    import pandas as pd

    job = get_job(ctx, name)
    if job.status != "InProgress":
        raise StateError(
            f"Labelling job {name!r} is {job.status}; automated labelling runs on open jobs.",
            code="labeling.closed",
        )
    settings = job.settings.get("auto_label") or auto_label_settings(job.task)
    consolidate_job(ctx, name, method=method)
    given = exists().where(
        (LabelingTaskRow.job_id == LabelingItemRow.job_id)
        & (LabelingTaskRow.item == LabelingItemRow.item)
    )
    with ctx.store.read() as session:
        human = session.execute(
            select(LabelingItemRow.item, LabelingItemRow.payload, LabelingItemRow.label).where(
                (LabelingItemRow.job_id == job.id)
                & (LabelingItemRow.status == "labeled")
                & (LabelingItemRow.method != "automatic")
            )
        ).all()
        # Items nobody has been given, and the automatic labels of earlier rounds: each round's
        # model relabels them, and takes back the labels its threshold no longer supports (the
        # labels in place are those of one model and one threshold, not the best of many).
        is_candidate = (LabelingItemRow.job_id == job.id) & (
            ((LabelingItemRow.status == "open") & ~given)
            | ((LabelingItemRow.status == "labeled") & (LabelingItemRow.method == "automatic"))
        )
        candidates = session.execute(
            select(
                LabelingItemRow.id,
                LabelingItemRow.item,
                LabelingItemRow.payload,
                LabelingItemRow.method,
            ).where(is_candidate)
        ).all()
    started = now()
    record: dict[str, Any] = {"at": started.isoformat() + "Z", "human_labels": len(human)}
    if len(human) < settings["min_labels"]:
        return {
            **record,
            "skipped": f"{len(human)} human labels of the {settings['min_labels']} needed.",
        }
    features = _shown(job)
    share = check_share(settings.get("check_size", 200), _count_items(ctx, job))
    check = np.array([is_check_item(job.id, item, share) for item, _, _ in human], bool)
    if check.sum() < MIN_CHECK:
        # Too few check items labelled yet (automated labelling turned on late): every human
        # label stands in, an estimate biased towards the items people were given.
        check = np.ones(len(human), bool)
    result = fit_round(
        pd.DataFrame([p for _, p, _ in human], columns=features),
        np.array([label["value"] for _, _, label in human], dtype=object),
        pd.DataFrame([p for _, _, p, _ in candidates], columns=features),
        media=job.media,
        content=job.content,
        target_accuracy=settings["target_accuracy"],
        check=check,
    )
    if "skipped" in result:
        return {**record, **result}
    threshold = result["threshold"]
    reserved = np.array([is_check_item(job.id, item, share) for _, item, _, _ in candidates], bool)
    auto = (
        (result["confidence"] >= threshold) & ~reserved
        if threshold is not None
        else np.zeros(len(candidates), bool)
    )
    # The rest go to humans least-confident first, check items still ahead of them.
    priority = np.where(reserved, -1.0, result["confidence"].astype(float))
    stamp = now()
    updates = [
        {
            "id": row_id,
            "status": "labeled" if is_auto else "open",
            "label": {"value": str(label)} if is_auto else None,
            "confidence": float(conf) if is_auto else None,
            "method": "automatic" if is_auto else None,
            "priority": float(rank),
            "updated_at": stamp,
        }
        for (row_id, _, _, _), label, conf, rank, is_auto in zip(
            candidates, result["predicted"], result["confidence"], priority, auto, strict=True
        )
    ]
    with ctx.store.write() as session:
        # Items handed to someone while the model trained keep their human answers: only
        # those still candidates now, in the writing transaction, are labelled or reordered.
        still = set(session.scalars(select(LabelingItemRow.id).where(is_candidate)))
        kept = np.array([row_id in still for row_id, *_ in candidates], bool)
        updates = [u for u, keep in zip(updates, kept, strict=True) if keep]
        auto = auto & kept
        if updates:
            session.execute(update(LabelingItemRow), updates)
    before = np.array([method == "automatic" for *_, method in candidates], bool)
    record.update(
        {
            "threshold": threshold,
            "estimated_accuracy": result["estimated_accuracy"],
            "accuracy_lower_bound": result["accuracy_lower_bound"],
            "check_coverage": result["check_coverage"],
            "check_size": result["check_size"],
            "labeled": int(auto.sum()),
            "newly_labeled": int((auto & ~before).sum()),
            "taken_back": int((before & ~auto).sum()),
            "left_for_humans": int((kept & ~auto).sum()),
            "seconds": round((now() - started).total_seconds(), 3),
        }
    )
    if threshold is None:
        record["note"] = (
            f"No confidence threshold reaches the target accuracy {settings['target_accuracy']:g} "
            f"on the {result['check_size']} human-labelled check items (the model is right on "
            f"{result['check_accuracy_all']:.0%} of them): nothing was labelled automatically. "
            "The rest go to people least confident first; a later round, with more labels, may "
            "reach it."
        )
    with ctx.store.write() as session:
        row = session.get(LabelingJobRow, job.id)
        rounds = [*row.settings.get("auto_rounds", []), record]
        row.settings = {**row.settings, "auto_rounds": rounds}
    return record


def _count_items(ctx: Context, job: LabelingJob) -> int:
    with ctx.store.read() as session:
        return session.scalar(select(func.count()).where(LabelingItemRow.job_id == job.id))


def _shown(job: LabelingJob) -> list[str]:
    return [job.content] if job.media == "text" and job.content else list(job.columns)


def human_label_count(session, job_id: str) -> int:
    """How many items of a job have their human answers in (labelled from them or not)."""
    return session.scalar(
        select(func.count()).where(
            (LabelingItemRow.job_id == job_id)
            & (
                (LabelingItemRow.status == "answered")
                | ((LabelingItemRow.status == "labeled") & (LabelingItemRow.method != "automatic"))
            )
        )
    )


def maybe_start_round(ctx: Context, job: LabelingJob, humans: int) -> threading.Thread | None:
    """Start a round in a thread when the job labels automatically, has ``min_labels`` human
    labels (``humans``, counted by the caller in the answer's own transaction, so an answer pays
    one count query), ``batch`` more than at its last round, and no round is running."""
    settings = job.settings.get("auto_label")
    if not settings:
        return None
    rounds = job.settings.get("auto_rounds", [])
    last = rounds[-1]["human_labels"] if rounds else 0
    if humans < settings["min_labels"] or (rounds and humans - last < settings["batch"]):
        return None
    with _RUNNING_LOCK:
        if job.id in _RUNNING and _RUNNING[job.id].is_alive():
            return None
        # Not a daemon: a short-lived process (the CLI) finishes the round before it exits.
        thread = threading.Thread(
            target=_run_logged, args=(ctx, job.name, humans), name=f"kiln-auto-label-{job.name}"
        )
        _RUNNING[job.id] = thread
        thread.start()
        return thread


def _run_logged(ctx: Context, name: str, humans: int) -> None:
    """A round started by an answer: one that is skipped or fails is recorded on the job too
    (``kiln label status`` shows it), as nobody is waiting for its return value; and being
    recorded, the next round waits for ``batch`` more labels instead of starting at every
    answer."""
    try:
        record = run_round(ctx, name)
    except Exception as exc:
        _log.exception("Automated labelling round of job %s failed", name)
        record = {
            "at": now().isoformat() + "Z",
            "human_labels": humans,
            "error": f"{type(exc).__name__}: {exc}"[:500],
        }
    if "skipped" not in record and "error" not in record:
        return  # a round that ran recorded itself
    try:
        _record_round(ctx, name, record)
    except Exception:
        _log.exception("Could not record the automated labelling round of job %s", name)


def _record_round(ctx: Context, name: str, record: dict) -> None:
    with ctx.store.write() as session:
        row = session.scalar(select(LabelingJobRow).where(LabelingJobRow.name == name))
        row.settings = {
            **row.settings,
            "auto_rounds": [*row.settings.get("auto_rounds", []), record],
        }


def wait_for_rounds(timeout: float | None = None) -> None:
    """Wait for the rounds running in this process to finish."""
    with _RUNNING_LOCK:
        threads = list(_RUNNING.values())
    for thread in threads:
        thread.join(timeout)
