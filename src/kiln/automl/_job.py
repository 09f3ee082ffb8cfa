"""The AutoML job: profile, search, ensemble, explain and register — within the time limit."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from kiln.algorithms import BINARY, REGRESSION, default_threads, get_algorithm
from kiln.automl._ensemble import (
    RANKING_METRICS,
    BaggedMember,
    WeightedEnsemble,
    choose_calibration,
    ensemble_pipeline,
    select_ensemble,
    share_identical_steps,
)
from kiln.automl._search import (
    FAMILIES,
    SCALE_SENSITIVE,
    Search,
    Trial,
    live_children_peak_kb,
    metric_loss,
)
from kiln.automl._target import unwrap
from kiln.compute import JobContext
from kiln.context import Context
from kiln.data import CATEGORICAL, NUMERIC, TEXT
from kiln.errors import DataError
from kiln.evaluation import ShapUnavailable, evaluate, shap_values, transformed_feature_names
from kiln.problems import (
    DEFAULT_OBJECTIVE,
    LOWER_IS_BETTER,
    encode_target,
    infer_problem_type,
    order_classes,
)
from kiln.profile import profile_version, stored_profile
from kiln.registry import TrainedModel
from kiln.training import (
    build_signature,
    criteria_details,
    decide_approval,
    evaluate_model,
    log_criteria,
)

IMBALANCED_SHARE = 0.2  # the rarest class under this share of the rows: an imbalanced target
TEXT_VOCABULARY = 5000
# A categorical column with more distinct values than this (the default recipe's one-hot columns
# per column) whose values have this many words on average is short text: titles, descriptions.
WORDY_DISTINCT = 50
# The power recipe's Yeo-Johnson transforms a numeric column of this many distinct values and
# this many rows besides its most frequent value.
POWER_MIN_VALUES = 10
POWER_MIN_ROWS = 20
WORDY_WORDS = 2.0
EXPLAIN_ROWS = 300
SHAP_ROWS = 200
# Members whose SHAP values the booster computes itself, and those shap.TreeExplainer can read.
# scikit-learn's histogram boosting goes through shap's TreeExplainer, but its shallow trees take
# it a fraction of a second, as a booster's own contributions do.
BOOSTED_FAMILIES = tuple(
    n for n in FAMILIES if get_algorithm(n).automl.shap == "native" or n == "hist_gradient_boosting"
)
TREE_FAMILIES = tuple(n for n in FAMILIES if get_algorithm(n).automl.shap in ("native", "tree"))
FOREST_SHAP_ROWS = 50
MIN_SHAP_ROWS = 10
# A SHAP row's cost in predicted rows of the whole model: 2.8 measured for a bag of ten
# ten-class LightGBM fold models (one of them explained), with a margin.
SHAP_ROW_COST = 5
MIN_IMPORTANCE_ROWS = 20
IMPORTANCE_FLOOR_SECONDS = 1.0
# The units of a transformed target's member's SHAP values (what its own model predicts).
TRANSFORMED_UNITS = {"log": "log of the target", "power": "power-transformed target"}


def finish_reserve(time_limit: float) -> float:
    """Seconds kept after the search for the ensemble, the explanation, registering and the
    process's exit."""
    return 3.0 + 0.1 * time_limit


def explain_seconds(time_limit: float, remaining: float) -> float:
    """Seconds the explanation may take: a small share of the limit, within what is left."""
    return max(0.5, min(0.5 + 0.03 * time_limit, remaining - 2.0))


def run_automl_job(workspace: Context, context: JobContext, spec: dict) -> dict:

    log = context.log
    time_limit = float(spec["time_limit"])
    # The caller's wall-clock deadline (its clock started before this process did).
    deadline = time.monotonic() + (spec["deadline"] - time.time())
    started = time.monotonic()
    dataset = workspace.data.get_by_id(spec["dataset_version_id"])
    target = spec["target"]
    frame = workspace.data.load(dataset)
    missing_target = int(frame[target].isna().sum())
    if missing_target:
        frame = frame[frame[target].notna()].reset_index(drop=True)
        log(f"Dropped {missing_target} rows whose target {target!r} is missing.")
    if len(frame) < 20:
        raise DataError(
            f"AutoML needs at least 20 rows with a target; {dataset.ref} has {len(frame)}.",
            code="automl.too-few-rows",
        )
    problem_type = spec.get("problem_type") or infer_problem_type(frame[target])
    classes = None
    if problem_type != REGRESSION:
        classes = order_classes(frame[target].unique().tolist())
    y = encode_target(frame[target], problem_type, classes, target)
    metric = spec["metric"] or DEFAULT_OBJECTIVE[problem_type]
    log(
        f"Started {time_limit - (deadline - started):.1f} s after the call. "
        f"Data set {dataset.ref}: {len(frame)} rows, {dataset.column_count} columns; "
        f"problem type {problem_type} (target {target!r}); optimising {metric}; "
        f"time limit {time_limit:g} s."
    )
    # The test rows leave before anything is learnt from the data: the search, the ensemble's
    # weights, the decision threshold and the refits never see them.
    test_frame, y_test = None, None
    if spec.get("test_size"):
        frame, y, test_frame, y_test = _hold_out(frame, y, spec["test_size"], spec["seed"], classes)
        if len(frame) < 20:
            raise DataError(
                f"AutoML needs at least 20 rows to search on; holding out {spec['test_size']:g} "
                f"of {dataset.ref} for testing leaves {len(frame)}. Use a smaller test_size.",
                code="automl.too-few-rows",
            )
    elif spec.get("test_dataset_version_id"):
        test_frame, y_test = _test_data(workspace, spec, target, problem_type, classes)

    profile_id = None
    try:
        # The profile the user already has (with its quick model's warnings) when there is one.
        profile = stored_profile(workspace, dataset, target) or profile_version(
            workspace, dataset, target=target, model=False
        )
        warnings_found = profile.facts.get("warnings", [])
        profile_id = profile.id
    except Exception as exc:  # noqa: BLE001 - the profile informs; it must not stop the search
        log(
            f"Profiling failed ({type(exc).__name__}: {exc}); going on without it.",
            level="WARNING",
        )
        warnings_found = []
    for warning in warnings_found:
        log(f"Profile: {warning['message']}")
    if test_frame is not None:
        source = spec.get("test_dataset") or f"{spec['test_size']:.0%} of the rows"
        log(
            f"Test split: {len(test_frame)} rows ({source}), held out from the search and the "
            f"ensemble; {len(frame)} rows to search on."
        )
    column_types = dataset.column_types()
    text_columns = [c for c, t in column_types.items() if t == TEXT and c != target]
    signature = build_signature(
        frame,
        column_types=column_types,
        target=target,
        problem_type=problem_type,
        classes=classes,
        positive_label=classes[1] if problem_type == BINARY else None,
        also=text_columns,
    )
    features = [c["name"] for c in signature["inputs"]]
    if not features:
        raise DataError(
            f"No usable feature columns besides the target {target!r} in {dataset.ref} "
            "(identifier columns are not used).",
            code="training.no-features",
        )
    ignored = [c["name"] for c in signature["ignored"]]
    if ignored:
        log(f"Not used as features (identifiers): {', '.join(ignored)}.")
    imbalanced = False
    if classes is not None:
        counts = np.bincount(y, minlength=len(classes))
        if counts.min() < 2:
            rare = classes[int(counts.argmin())]
            raise DataError(
                f"Class {rare!r} of {target!r} has {int(counts.min())} row(s); every class needs "
                "at least 2 to be cross-validated. Drop it or collect more rows.",
                code="automl.rare-class",
                field=target,
            )
        imbalanced = counts.min() / counts.sum() < IMBALANCED_SHARE
        if imbalanced:
            log(
                f"Imbalanced target: the rarest class {classes[int(counts.argmin())]!r} is "
                f"{counts.min() / counts.sum():.1%} of rows; class weights join the search and "
                "folds are stratified."
            )
    wordy = _wordy_categoricals(frame, column_types, features)
    if wordy:
        log(
            f"Categorical columns of short texts, whose words are features too (TF-IDF): "
            f"{', '.join(wordy)}."
        )
    recipes = _recipes(column_types, features, text_columns, wordy, frame)
    families = _families(problem_type, len(frame), spec.get("algorithms"))
    dense_only = [f for f in families if get_algorithm(f).dense_input_only]
    if (text_columns or wordy) and spec.get("algorithms") is None and dense_only:
        families = [f for f in families if f not in dense_only]
        for name in dense_only:
            log(
                f"{name} is left out: it takes no sparse input, and the text columns' TF-IDF "
                "words are sparse."
            )
    X = frame[features]
    workers = max(1, min(default_threads(), 5))
    search = Search(
        problem_type=problem_type,
        X=X,
        y=y,
        column_types=column_types,
        features=features,
        classes=classes,
        metric=metric,
        recipes={
            name: recipes["scaled" if name in SCALE_SENSITIVE else "trees"] for name in families
        },
        families=families,
        imbalanced=imbalanced,
        workers=workers,
        seed=spec["seed"],
        log=log,
        # The library's forests wait on the workspace's disk (see Search._forget_models): not
        # in TMPDIR, which is memory where /tmp is a tmpfs.
        spill_dir=str(workspace.home),
    )
    log(
        f"Candidates: {', '.join(f.name for f in search.families)}; {search.validation}; "
        f"{workers} fit(s) at once."
    )
    reserve = finish_reserve(time_limit)
    search_deadline = deadline - reserve
    best = [math.inf]

    def on_trial(trial: Trial) -> None:
        done = min(100.0, 100 * (time.monotonic() - started) / max(deadline - started, 1e-9))
        shown = _shown(trial.loss, metric)
        if trial.state == "complete":
            best[0] = min(best[0], trial.loss)
        if trial.state == "complete" and shown is not None:
            # Series a progress view reads (kiln.automl.automl_progress): step = trial number.
            context.log_metric_series("trial_score", [shown], start_step=trial.number)
            context.log_metric_series(
                "best_score", [_shown(best[0], metric)], start_step=trial.number
            )
        log(
            f"Progress {done:.0f}% — trial {trial.number} {trial.family} ({trial.recipe} recipe"
            + (
                f", {trial.target_transform} target"
                if trial.target_transform not in (None, "none")
                else ""
            )
            + "): "
            f"{metric} {shown} in {trial.seconds:.1f} s; best {_shown(best[0], metric)}"
        )

    search.run(
        search_deadline,
        on_trial=on_trial,
        hard_deadline=search_deadline + reserve / 3,
        last_stop=deadline - 1.5,
    )
    search_done = time.monotonic()
    kept = search.kept()
    if not kept:
        failures = "; ".join(t.error or "" for t in search.trials[:3])
        raise DataError(
            "No candidate model could be fit within the time limit"
            + (f" (failures: {failures})" if failures else "")
            + ". Give a longer --time-limit.",
            code="automl.no-model",
        )
    not_run = sum(t.state == "out of time" for t in search.trials)
    log(
        f"Search done: {len(search.trials) - not_run} trials ran in "
        f"{time.monotonic() - started:.1f} s"
        + (f" ({not_run} stopped by the time limit before they started)." if not_run else ".")
    )

    library = search.library()
    weights, ensemble_loss = select_ensemble([t.oof for t in library], search.loss)
    chosen = [(t, w) for t, w in zip(library, weights, strict=True) if w > 0]
    chosen.sort(key=lambda pair: -pair[1])
    # Members refit on all rows where time allows (more data than any fold had); the others
    # keep their fold models.
    refit_seconds = deadline - time.monotonic() - explain_seconds(time_limit, 1e9) - 2.0
    refits = search.refit([t for t, _ in chosen], refit_seconds) if refit_seconds > 0 else {}
    for t, _ in chosen:
        if t.number not in refits:
            search.fold_models(t)  # its estimators read back from disk if they were spilled
    search.release_disk()
    if search.spilled[0]:
        log(
            f"The search kept {search.spilled[0]} forest candidate(s)' fold models on disk, "
            f"not in memory ({search.spilled[1] / 1e6:.0f} MB written)."
        )
    members = [
        BaggedMember(
            f"trial {t.number} {t.family}",
            [refits[t.number]] if t.number in refits else t.pipelines,
            problem_type,
            n_classes=len(classes) if classes else 0,
        )
        for t, _ in chosen
    ]
    log(f"Refit {len(refits)} of {len(chosen)} ensemble member(s) on all rows.")
    share_identical_steps(members)  # one stored copy of a recipe that members fitted alike
    oof = sum(w * t.oof for t, w in chosen)
    best_single = kept[0]
    log(
        f"Ensemble of {len(chosen)} candidate(s): {metric} {_shown(ensemble_loss, metric)} "
        f"out of fold, against {_shown(best_single.loss, metric)} for the best single one "
        f"(trial {best_single.number}, {best_single.family})."
    )
    calibration, calibration_details = None, None
    if problem_type != REGRESSION:
        calibration, oof, tried = choose_calibration(
            oof, y[search.rows], search.loss, spec["seed"], ranking=metric in RANKING_METRICS
        )
        calibration_details = {
            "chosen": calibration.describe() if calibration else {"method": "none"},
            "cross_validated": {
                name: {
                    metric: _shown(scores["metric_loss"], metric),
                    "log_loss": round(scores["log_loss"], 6),
                }
                for name, scores in tried.items()
            },
        }
        if calibration is not None:
            ensemble_loss = search.loss(oof)
            log(
                f"Calibration: {calibration.method} "
                + (
                    f"(T = {calibration.temperature:.3f}) "
                    if calibration.method == "temperature"
                    else ""
                )
                + f"improves the cross-validated out-of-fold log loss from "
                f"{tried['none']['log_loss']:.4f} to {tried[calibration.method]['log_loss']:.4f}"
                f"; {metric} {_shown(ensemble_loss, metric)}."
            )
        else:
            log("Calibration: neither temperature nor isotonic scaling improves the ensemble.")
    floor = _floor(search, ensemble_loss, metric, log)
    ensemble = WeightedEnsemble(members, [w for _, w in chosen], problem_type, calibration)

    model = TrainedModel(
        ensemble_pipeline(ensemble, X.head(5)),
        problem_type=problem_type,
        classes=classes,
        signature=signature,
    )
    y_rows = y[search.rows]
    threshold = None
    if problem_type == BINARY and imbalanced:
        threshold = _minority_threshold(y_rows, oof[:, 1])
        model.threshold = threshold
        signature["outputs"]["threshold"] = threshold
        log(
            f"Decision threshold {threshold:.2f}: the best F1 of the rarer class on "
            "out-of-fold predictions."
        )
    # Out-of-fold: each row scored by models that never saw it, but the same rows chose the
    # candidates and the ensemble weights, so the number flatters the model a little.
    metrics = {"oof": _metrics(problem_type, y_rows, oof, model, len(features))}
    test_score = None
    if test_frame is not None:
        metrics["test"] = _test_metrics(model, test_frame[features], y_test, len(features))
        test_score = metrics["test"].get(metric)
        log(
            f"Test split ({len(test_frame)} rows, never used to choose): {metric} "
            f"{test_score if test_score is not None else 'not defined'}; out of fold "
            f"{_shown(ensemble_loss, metric)}."
        )
    explanation = explain(
        model,
        X.iloc[search.rows],
        y_rows,
        metric,
        chosen,
        seconds=explain_seconds(time_limit, deadline - time.monotonic()),
        seed=spec["seed"],
        final=refits,
    )
    log(
        f"Ensemble and explanation took {time.monotonic() - search_done:.1f} s "
        f"(permutation importance on {explanation['rows']} rows"
        + (f", SHAP of trial {explanation['shap']['trial']}" if "shap" in explanation else "")
        + ")."
    )
    leaderboard = _leaderboard(search, chosen, ensemble_loss, metric)
    ensemble_spec = [
        {
            "trial": t.number,
            "algorithm": t.family,
            "recipe": t.recipe,
            "recipe_steps": search.family(t.family).recipes[t.recipe],
            "weight": round(w, 4),
            "refit_on_all_rows": t.number in refits,
            "hyperparameters": t.hyperparameters,
            **({"target_transform": t.target_transform} if t.target_transform else {}),
        }
        for t, w in chosen
    ]
    details = {
        "kind": "automl",
        "metric": metric,
        "validation": search.validation,
        "leaderboard": leaderboard,
        "ensemble": ensemble_spec,
        "explanation": explanation,
        "profile": profile_id,
        "profile_warnings": [w["message"] for w in warnings_found],
        "threshold": threshold,
        "floor": floor,
        "calibration": calibration_details,
    }
    problem = workspace.problems.get(spec["problem"]) if spec.get("problem") else None
    checked = evaluate_model(
        problem,
        None,
        model=model,
        metrics=metrics,
        rows=(test_frame if test_frame is not None else frame) if problem is not None else None,
    )
    log_criteria(checked, log)
    version = workspace.models.register(
        model,
        group=spec["group"],
        algorithm="automl",
        target=target,
        hyperparameters={"ensemble": ensemble_spec},
        metrics=metrics,
        dataset_version_id=dataset.id,
        job_id=context.job_id,
        details=details | criteria_details(checked),
    )
    version = decide_approval(workspace, version, checked, problem, log)
    seconds = time.monotonic() - started
    log(
        f"Registered model {version.ref} ({version.approval_status}) "
        f"{time_limit - (deadline - time.monotonic()):.1f} s after the call."
    )
    return {
        "model": version.ref,
        "model_version_id": version.id,
        "problem_type": problem_type,
        "metric": metric,
        "score": _shown(ensemble_loss, metric),
        "best_single": {
            "trial": best_single.number,
            "algorithm": best_single.family,
            metric: _shown(best_single.loss, metric),
        },
        "trials": len(search.trials),
        "test_score": test_score,
        "test_rows": len(test_frame) if test_frame is not None else None,
        "metrics": metrics,
        "threshold": threshold,
        "time_limit": time_limit,
        "search_seconds": round(sum(t.seconds for t in search.trials), 3),
        "total_seconds": round(seconds, 3),
        "seconds_since_call": round(time_limit - (deadline - time.monotonic()), 3),
        "peak_memory_mb": peak_memory_mb(search.workers_peak_kb),
        **details,
        "criteria": checked["results"],
    }


def _floor(search: Search, ensemble_loss: float, metric: str, log) -> dict:
    """The floor check: the default-settings candidates a user would try first (the families
    whose AutoML hints say ``floor``), and the chosen model's out-of-fold score against the best
    of them. Ensemble selection starts from the best candidate and keeps only improvements, and
    calibration is kept only when it improves, so ``held`` is true by construction; it is
    recorded (and tested) so that a change that breaks it shows."""
    floors = [t for t in search.trials if t.floor]
    scored = [t for t in floors if math.isfinite(t.loss)]
    missing = sorted(
        {f.name for f in search.families if f.algorithm.automl.floor} - {t.family for t in scored}
    )
    failed = sorted({t.family for t in floors if t.state == "failed"} & set(missing))
    late = [name for name in missing if name not in failed]
    if late:
        log(
            f"Floor: the default-settings trial of {', '.join(late)} did not finish within "
            "the time limit; the floor holds over the others.",
            level="WARNING",
        )
    if failed:
        log(
            f"Floor: the default-settings trial of {', '.join(failed)} failed (its error is in "
            "the leaderboard); the floor holds over the others.",
            level="WARNING",
        )
    if not scored:
        return {"candidates": [], "missing": missing, "held": None}
    best = min(scored, key=lambda t: t.loss)
    held = ensemble_loss <= best.loss + 1e-12
    log(
        f"Floor: {metric} {_shown(ensemble_loss, metric)} out of fold against "
        f"{_shown(best.loss, metric)} for the best default-settings candidate ({best.family}, "
        f"trial {best.number})" + ("." if held else " — WORSE, which should not happen.")
    )
    return {
        "candidates": [
            {"trial": t.number, "algorithm": t.family, metric: _shown(t.loss, metric)}
            for t in scored
        ],
        "best": {"trial": best.number, "algorithm": best.family, metric: _shown(best.loss, metric)},
        "chosen": _shown(ensemble_loss, metric),
        "missing": missing,
        "held": held,
    }


def peak_memory_mb(workers_kb: int = 0) -> dict[str, float]:
    """Peak resident memory of this job's process and of its largest fit worker, in MB (Linux
    reports kilobytes): what the time limit's search cost in memory."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # RUSAGE_CHILDREN counts only children that have ended; joblib keeps its fit workers alive
    # for the next call, so theirs are read from each live one's high-water mark.
    workers = max(
        [
            workers_kb,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            *live_children_peak_kb(),
        ]
    )
    return {"job": round(own / 1024, 1), "workers": round(workers / 1024, 1)}


def _shown(loss: float, metric: str):
    """A loss back in the metric's own sign (None for no score)."""
    if not math.isfinite(loss):
        return None
    return round(loss if metric in LOWER_IS_BETTER else -loss, 6)


def _wordy_categoricals(frame: pd.DataFrame, column_types: dict, features: list[str]) -> list[str]:
    """Categorical columns whose values are short texts (see WORDY_DISTINCT): one-hot columns
    or codes see a few hundred of their values at most, their words reach every row."""
    wordy = []
    for c in features:
        if column_types.get(c) != CATEGORICAL:
            continue
        values = frame[c].dropna().astype(str)
        if values.nunique() > WORDY_DISTINCT and values.str.split().str.len().mean() >= WORDY_WORDS:
            wordy.append(c)
    return wordy


def _worth_a_power_transform(column: pd.Series) -> bool:
    """Whether Yeo-Johnson can change what a scaled linear model sees in a column: not on a
    few values (on two it is a rescaling, which the scaling does anyway), and not on a column
    that is one value but in a handful of rows (a fold's training rows may hold that value
    alone, which the transform refuses)."""
    counts = column.value_counts()
    return len(counts) >= POWER_MIN_VALUES and counts.sum() - counts.iloc[0] >= POWER_MIN_ROWS


def _recipes(
    column_types: dict,
    features: list[str],
    text_columns: list[str],
    wordy: list[str] = (),
    frame: pd.DataFrame | None = None,
) -> dict:
    """Recipe variants (name → steps; None is the default recipe) for tree models and for the
    scale-sensitive ones (linear, k-NN, neural nets). Text columns get their statistics and
    words (TF-IDF) as features; so do ``wordy`` categorical columns, which keep their categorical
    encoding too. The power recipe transforms the numeric columns of ``frame`` (all of them
    without it) worth it."""
    text = [c for c in features if c in text_columns]
    base: list[dict] = []
    if text or wordy:
        # Length, capitals, punctuation, links: the style that word vectors lose.
        base.append({"step": "text_stats", "columns": [*text, *wordy]})
    if text:
        base.append(
            {"step": "tfidf", "columns": text, "max_features": TEXT_VOCABULARY, "min_df": 2}
        )
    if wordy:
        base.append(
            {
                "step": "tfidf",
                "columns": list(wordy),
                "max_features": TEXT_VOCABULARY,
                "min_df": 2,
                "keep": True,
            }
        )
    trees = {"default": base or None}
    scaled = dict(trees)
    numeric = [c for c in features if column_types.get(c) == NUMERIC]
    if frame is not None:
        numeric = [c for c in numeric if _worth_a_power_transform(frame[c])]
    if numeric:
        scaled["power"] = [
            *base,
            {"step": "transform", "columns": numeric, "function": "yeo_johnson"},
        ]
    return {"trees": trees, "scaled": scaled}


def _families(problem_type: str, rows: int, only: list[str] | None) -> list[str]:
    names = list(only or FAMILIES)
    out = []
    for name in names:
        algorithm = get_algorithm(name)
        if problem_type not in algorithm.problem_types:
            continue
        if name == "catboost" and only is None:
            try:
                import catboost  # noqa: F401 - an optional extra
            except ImportError:
                continue
        if name == "knn" and rows > 100_000 and only is None:
            continue  # prediction cost grows with the training rows
        out.append(algorithm.name)
    return out


def _hold_out(frame: pd.DataFrame, y: np.ndarray, size: float, seed: int, classes):
    """(frame, y, test frame, test y): a seeded share of the rows held out, stratified by class
    when every class has two rows or more."""
    from sklearn.model_selection import train_test_split

    stratify = None
    if classes is not None and np.bincount(y, minlength=len(classes)).min() >= 2:
        stratify = y
    keep, held = train_test_split(
        np.arange(len(frame)), test_size=size, random_state=seed, stratify=stratify
    )
    keep, held = np.sort(keep), np.sort(held)
    train = frame.iloc[keep].reset_index(drop=True)
    return train, y[keep], frame.iloc[held].reset_index(drop=True), y[held]


def _test_data(workspace: Context, spec: dict, target: str, problem_type: str, classes):
    """(frame, y) of the test data set: its rows with a target, in the training classes."""
    test = workspace.data.get_by_id(spec["test_dataset_version_id"])
    frame = workspace.data.load(test)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    if frame.empty:
        raise DataError(
            f"The test data set {test.ref} has no rows with a target {target!r}.",
            code="automl.bad-test-data",
            field="test_data",
        )
    if classes is not None:
        unseen = sorted({str(v) for v in frame[target].unique() if v not in set(classes)})
        if unseen:
            raise DataError(
                f"The test data set {test.ref} has target value(s) {', '.join(unseen[:5])} that "
                f"the training data never has ({', '.join(map(str, classes[:10]))}).",
                code="automl.bad-test-data",
                field="test_data",
            )
    return frame, encode_target(frame[target], problem_type, classes, target)


def _test_metrics(model: TrainedModel, X: pd.DataFrame, y: np.ndarray, n_features: int) -> dict:
    """The final model's metrics on the held-out test rows (its decision threshold applied)."""
    if model.problem_type == REGRESSION:
        return evaluate(REGRESSION, y, y_pred=model.predict_values(X), n_features=n_features)
    proba = model.predict_proba(X)
    return evaluate(model.problem_type, y, y_pred=model.encoded_labels(proba), proba=proba)


def _minority_threshold(y: np.ndarray, positive: np.ndarray) -> float:
    """The threshold on P(second class) with the best F1 for the rarer class."""
    from sklearn.metrics import f1_score

    rare = int(np.bincount(y, minlength=2).argmin())
    best, chosen = -1.0, 0.5
    for threshold in np.round(np.linspace(0.05, 0.95, 91), 2):
        predicted = (positive >= threshold).astype(int)
        score = f1_score(y, predicted, pos_label=rare, zero_division=0)
        if score > best + 1e-12:
            best, chosen = score, float(threshold)
    return chosen


def _metrics(problem_type, y, oof, model, n_features) -> dict:
    if problem_type == REGRESSION:
        return evaluate(REGRESSION, y, y_pred=oof, n_features=n_features)
    proba = oof / oof.sum(axis=1, keepdims=True)
    return evaluate(problem_type, y, y_pred=model.encoded_labels(proba), proba=proba)


def _leaderboard(search: Search, chosen, ensemble_loss: float, metric: str) -> list[dict]:
    weights = {t.number: w for t, w in chosen}
    rows = [
        {
            "rank": 0,
            "trial": None,
            "algorithm": "ensemble",
            "recipe": "",
            "hyperparameters": {
                "members": [f"{t.family} (trial {t.number}) × {w:.2f}" for t, w in chosen]
            },
            metric: _shown(ensemble_loss, metric),
            "fit_seconds": round(sum(t.seconds for t, _ in chosen), 3),
            "state": "complete",
            "weight": 1.0,
        }
    ]
    ranked = sorted(search.trials, key=lambda t: (t.loss, t.number))
    for rank, trial in enumerate(ranked, start=1):
        row = trial.row(metric)
        row["rank"] = rank
        row["weight"] = round(weights.get(trial.number, 0.0), 4)
        rows.append(row)
    return rows


def _model_of(trial: Trial, final: dict):
    """The member's model to explain: its refit on all rows, else its first fold model."""
    return final[trial.number] if trial.number in final else trial.pipelines[0]


def explain(
    model,
    X: pd.DataFrame,
    y: np.ndarray,
    metric: str,
    chosen,
    *,
    seconds: float,
    seed: int,
    final: dict | None = None,
) -> dict:
    """Permutation importance of the input columns for the whole model, and SHAP values of the
    heaviest tree member, each on a sample of the rows and within ``seconds``."""
    final = final or {}
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), size=min(EXPLAIN_ROWS, len(X)), replace=False)
    sample, y_sample = X.iloc[rows], y[rows]
    started = time.monotonic()
    out: dict = {"rows": len(rows), "note": "on training rows (out-of-fold rows for the bags)"}
    importance, row_seconds = _permutation_importance(
        model, sample, y_sample, metric, seconds=0.7 * seconds, seed=seed
    )
    out["permutation_importance"] = importance
    if not importance:
        out["permutation_importance_skipped"] = (
            f"one shuffled copy of every column on {MIN_IMPORTANCE_ROWS} rows takes the model "
            f"longer than the explanation's {seconds:.1f} s"
        )
    remaining = seconds - (time.monotonic() - started)
    # LightGBM, XGBoost and CatBoost give SHAP values natively: the heaviest of them is always
    # explained, on at least MIN_SHAP_ROWS rows. shap's TreeExplainer (histogram boosting, then
    # forests, which take it seconds even on a few rows) runs only when time is left. A SHAP row
    # costs a member's prediction several times over, so a model whose rows are slow to predict
    # (a bag of ten-class boosters) gets fewer of them.
    affordable = int(max(remaining, 0.0) / max(SHAP_ROW_COST * row_seconds, 1e-9))
    native = [(t, w) for t, w in chosen if get_algorithm(t.family).automl.shap == "native"]
    trees = [(t, w) for t, w in chosen if t.family in BOOSTED_FAMILIES] or [
        (t, w) for t, w in chosen if t.family in TREE_FAMILIES
    ]
    if native:
        trial, _ = max(native, key=lambda pair: pair[1])
        rows = max(MIN_SHAP_ROWS, min(SHAP_ROWS, affordable))
        out["shap"] = _shap(trial, _model_of(trial, final), sample.head(rows))
    elif trees and remaining > 0.3 and affordable >= MIN_SHAP_ROWS:
        trial, _ = max(trees, key=lambda pair: pair[1])
        rows = min(FOREST_SHAP_ROWS, affordable)
        # Its cost per row is measured, not foretold: deep forests take it seconds a row.
        shap = _shap(trial, _model_of(trial, final), sample.head(rows), seconds=remaining)
        if "skipped" in shap:
            out["shap_skipped"] = shap["skipped"]
        else:
            out["shap"] = shap
    elif trees:
        out["shap_skipped"] = (
            f"the explanation's {seconds:.1f} s went to permutation importance, and shap's "
            "TreeExplainer takes longer on this model than the time left"
        )
    else:
        out["shap_skipped"] = "no member of the ensemble is a tree model"
    return out


def _permutation_importance(
    model, X, y, metric: str, *, seconds: float, seed: int
) -> tuple[list, float]:
    """(each input column's importance, the model's seconds per predicted row): how much the
    metric worsens when the column's values are shuffled, averaged over repeats. Empty when
    even MIN_IMPORTANCE_ROWS rows per column would not fit in ``seconds``.

    Written here rather than with sklearn.inspection.permutation_importance, which predicts once
    per column and repeat: an ensemble of bagged pipelines spends most of a call in per-call
    overhead, so all shuffled copies are stacked and predicted in one call.
    """

    def predictions(frame):
        if model.problem_type == REGRESSION:
            return model.predict_values(frame)
        return model.predict_proba(frame)

    rng = np.random.default_rng(seed)
    columns = list(X.columns)
    started = time.monotonic()
    deadline = started + seconds
    # The model's cost first, as a fixed cost per call (an ensemble of bagged pipelines spends
    # most of a small call there) plus a cost per row, from two small calls: a slow model (a bag
    # of ten-class boosters on a wide table) can take seconds for the 300 rows.
    small, large = X.iloc[:MIN_IMPORTANCE_ROWS], X.iloc[: 3 * MIN_IMPORTANCE_ROWS]
    predictions(small)
    first = time.monotonic()
    predictions(large)
    second = time.monotonic()
    row_seconds = max((second - first) - (first - started), 0.0) / max(len(large) - len(small), 1)
    row_seconds = max(row_seconds, 1e-7)
    call_seconds = max((first - started) - row_seconds * len(small), 0.0)
    # The base predictions and one repeat (all len(columns) shuffled copies in one call) must
    # fit: fewer rows on a wide table or a slow model (rows are scored independently, so the
    # kept rows' base predictions are the first ones).
    # At least IMPORTANCE_FLOOR_SECONDS: a cheap model's importance is worth a second past a
    # share that the refits left short (the limit's +10 % covers it); a slow model's is not.
    left = max(deadline - second, IMPORTANCE_FLOOR_SECONDS) - 2 * call_seconds
    keep = int(left / (row_seconds * (len(columns) + 1)))
    if keep < MIN_IMPORTANCE_ROWS:
        return [], row_seconds
    X, y = X.iloc[: min(keep, len(X))], y[: min(keep, len(X))]
    base = predictions(X)
    loss = metric_loss(metric, model.problem_type, y)
    base_loss = loss(base)
    n = len(X)
    repeats = []
    while len(repeats) < 3:
        # One repeat: every column shuffled in its own copy, all copies predicted at once.
        started = time.monotonic()
        blocks = []
        for column in columns:
            shuffled = X.copy()
            shuffled[column] = X[column].to_numpy()[rng.permutation(n)]
            blocks.append(shuffled)
        stacked = predictions(pd.concat(blocks, ignore_index=True))
        repeats.append([loss(stacked[b * n : (b + 1) * n]) - base_loss for b in range(len(blocks))])
        now = time.monotonic()
        if now + (now - started) > deadline:
            break
    increases = np.array(repeats).T
    ranked = np.argsort(-increases.mean(axis=1), kind="stable")
    return [
        {
            "feature": columns[i],
            "importance": round(float(increases[i].mean()), 6),
            "std": round(float(increases[i].std()), 6),
        }
        for i in ranked
    ], row_seconds


def _shap(trial: Trial, pipeline, sample: pd.DataFrame, seconds: float | None = None) -> dict:
    """Mean |SHAP| per model feature of one member's pipeline (its refit model, else its first
    fold model); ``{"skipped": why}`` when shap's TreeExplainer is too slow for ``seconds``."""
    # A transformed target's member is explained on the transformed scale (its own model).
    preprocessor, estimator = pipeline[:-1], unwrap(pipeline[-1])
    started = time.monotonic()
    try:
        Xt = preprocessor.transform(sample)
        values, method, units = shap_values(
            estimator,
            Xt,
            seconds=None if seconds is None else seconds - (time.monotonic() - started),
            min_rows=MIN_SHAP_ROWS,
        )
    except ShapUnavailable as exc:
        if seconds is None:
            return {"error": f"ShapUnavailable: {exc}"[:300], "trial": trial.number}
        return {"skipped": str(exc)}
    except Exception as exc:  # noqa: BLE001 - an optional part of the explanation
        return {"error": f"{type(exc).__name__}: {exc}"[:300], "trial": trial.number}
    if estimator is not pipeline[-1]:
        units = TRANSFORMED_UNITS[pipeline[-1].transform.kind]
    names = transformed_feature_names(preprocessor, values.shape[-1])
    strength = np.abs(values).mean(axis=0).sum(axis=0)
    top = np.argsort(-strength, kind="stable")[:20]
    return {
        "trial": trial.number,
        "algorithm": trial.family,
        "method": method,
        "units": units,
        "rows": int(values.shape[0]),
        "mean_abs": [{"feature": names[i], "value": round(float(strength[i]), 6)} for i in top],
    }
