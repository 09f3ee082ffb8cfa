"""Bias/variance diagnosis: is a trained model overfitting, underfitting or balanced?

The diagnosis compares the *primary metric* (ROC-AUC for binary, accuracy for multiclass, R² for
regression) on the training rows with the held-out estimate (the cross-validation mean when there
is one, else the validation split, else the test split). Scores are put on a common *skill* scale
first, so one set of thresholds serves every metric::

    skill = (score - baseline) / (perfect - baseline)

where the baseline is what a model that learned nothing scores: ROC-AUC 0.5, the majority-class
share for accuracy, R² 0. A skill of 0 is no better than guessing, 1 is perfect.

Verdicts, checked in this order:

``overfitting``
    train skill exceeds held-out skill by more than ``OVERFIT_SKILL_GAP`` (0.15); or the loss
    grows too much off the training rows: for classifiers, held-out minus train log loss is more
    than ``OVERFIT_SKILL_GAP`` of the baseline log loss (the entropy of the class shares) *and*
    held-out log loss is more than ``OVERFIT_LOG_LOSS_RATIO`` (1.25) times train log loss (so a
    model whose probabilities are bad everywhere is not called overfitting); for regression,
    held-out RMSE is more than ``OVERFIT_RMSE_RATIO`` (1.5) times train RMSE.
``underfitting``
    train skill is below ``UNDERFIT_SKILL`` (0.30): the model does not even fit the rows it learned
    from well, so it misses signal (too simple, too regularised, or too few informative features).
``balanced``
    neither: train and held-out scores agree and the model fits its training rows.

``unknown`` is returned only when train or held-out scores are missing.
"""

from __future__ import annotations

import math

from kiln.algorithms import BINARY, MULTICLASS, REGRESSION
from kiln.errors import ConfigError

__all__ = [
    "LEARNING_CURVE_GAIN",
    "OVERFIT_LOG_LOSS_RATIO",
    "OVERFIT_RMSE_RATIO",
    "OVERFIT_SKILL_GAP",
    "SKILL_METRIC",
    "SPLIT_DISAGREEMENT",
    "UNDERFIT_SKILL",
    "diagnose",
]

# The diagnosis reads a skill score: a metric bounded by a baseline (0) and a perfect score (1),
# which R² is and RMSE (the primary metric that ranks regression models) is not.
SKILL_METRIC = {BINARY: "roc_auc", MULTICLASS: "accuracy", REGRESSION: "r2"}
LOSS_METRIC = {BINARY: "log_loss", MULTICLASS: "log_loss", REGRESSION: "rmse"}
METRIC_LABELS = {
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "f1": "F1",
    "accuracy": "Accuracy",
    "f1_macro": "F1 (macro)",
    "roc_auc_macro": "ROC-AUC (macro)",
    "r2": "R²",
    "log_loss": "Log loss",
    "rmse": "RMSE",
    "mae": "MAE",
}

# Thresholds, on the skill scale described in the module docstring.
OVERFIT_SKILL_GAP = 0.15
OVERFIT_RMSE_RATIO = 1.5
OVERFIT_LOG_LOSS_RATIO = 1.25
UNDERFIT_SKILL = 0.30
# Validation skill gained over the last step of the learning curve (75% → 100% of the training
# rows) above which more data is still worth having.
LEARNING_CURVE_GAIN = 0.01
# Skill difference between validation and test worth pointing out.
SPLIT_DISAGREEMENT = 0.10

_REGULARISE = {
    "lightgbm": "lower num_leaves (e.g. 15) or set max_depth, raise min_child_samples (e.g. 50) "
    "and reg_lambda, keep subsample and colsample_bytree below 1 and early_stopping_rounds on",
    "xgboost": "lower max_depth (e.g. 3-4), raise reg_lambda or reg_alpha, keep subsample and "
    "colsample_bytree below 1 and early_stopping_rounds on",
    "catboost": "lower depth, raise l2_leaf_reg, keep early stopping on",
    "random_forest": "limit max_depth (e.g. 8-12) or raise min_samples_leaf (e.g. 5-20)",
    "linear": "raise alpha (a stronger penalty), or use penalty=l1 to drop weak features",
}
_LOOSEN = {
    "lightgbm": "raise num_leaves and n_estimators, lower min_child_samples and reg_lambda; if "
    "early stopping ended at the last round, allow more rounds or a higher learning_rate",
    "xgboost": "raise max_depth and n_estimators, lower reg_lambda and reg_alpha",
    "catboost": "raise depth and iterations, lower l2_leaf_reg",
    "random_forest": "let trees grow (max_depth none, min_samples_leaf 1) and try max_features all",
    "linear": "lower alpha; a linear model cannot learn interactions or thresholds, so try a "
    "boosted-tree algorithm (lightgbm, xgboost)",
}


def diagnose(
    problem_type: str,
    metrics: dict,
    *,
    algorithm: str | None = None,
    learning_curve: list[dict] | None = None,
) -> dict:
    """Diagnose bias and variance from a training job's metrics.

    Parameters
    ----------
    problem_type
        ``binary``, ``multiclass`` or ``regression``.
    metrics
        Metrics by split as a training job stores them: ``{"train": {...}, "validation": {...},
        "test": {...}}`` and, under cross-validation, ``"cv_mean"``/``"cv_std"``.
    algorithm
        The algorithm's name, to make the suggestions concrete (which hyperparameters to move).
    learning_curve
        Optional points ``{"rows", "train", "validation"}`` (primary metric by training-set
        size); the last step tells whether more data would still help.

    Returns
    -------
    dict
        ``verdict`` (``overfitting``, ``underfitting``, ``balanced``, or ``unknown`` when scores are
        missing), ``evidence`` and ``suggestions`` (sentences), and the numbers behind them:
        ``metric``, ``scores`` by split, ``baseline``, ``skill`` by split, ``gap``,
        ``held_out_split``, ``loss`` and ``thresholds``.

    Examples
    --------
    >>> diagnose("regression", {"train": {"r2": 0.98}, "validation": {"r2": 0.61}})["verdict"]
    'overfitting'
    """
    if problem_type not in SKILL_METRIC:
        raise ConfigError(
            f"The bias/variance diagnosis is for {', '.join(SKILL_METRIC)} problems; "
            f"got {problem_type!r}.",
            code="reports.no-diagnosis",
        )
    metric, loss = SKILL_METRIC[problem_type], LOSS_METRIC[problem_type]
    label, loss_label = METRIC_LABELS[metric], METRIC_LABELS[loss]
    held_split = next((s for s in ("cv_mean", "validation", "test") if metrics.get(s)), None)
    scores = {
        split: metrics[split].get(metric)
        for split in ("train", "cv_mean", "validation", "test")
        if metrics.get(split) and metrics[split].get(metric) is not None
    }
    out: dict = {
        "verdict": "unknown",
        "metric": metric,
        "held_out_split": held_split,
        "scores": scores,
        "baseline": None,
        "skill": {},
        "gap": None,
        "loss": {},
        "evidence": [],
        "suggestions": [],
        "thresholds": {
            "overfit_skill_gap": OVERFIT_SKILL_GAP,
            "overfit_rmse_ratio": OVERFIT_RMSE_RATIO,
            "underfit_skill": UNDERFIT_SKILL,
        },
    }
    if "train" not in scores or held_split not in scores:
        out["evidence"].append(
            f"The job has no {label} on "
            + ("the training rows" if "train" not in scores else "held-out rows")
            + ", so train and held-out scores cannot be compared."
        )
        return out

    shares = _class_shares(metrics) if problem_type != REGRESSION else None
    baseline, baseline_text = _baseline(problem_type, shares)
    skill = {split: _skill(value, baseline) for split, value in scores.items()}
    gap = skill["train"] - skill[held_split]
    out.update(baseline=round(baseline, 6), skill={k: round(v, 4) for k, v in skill.items()})
    out["gap"] = round(gap, 4)
    held_name = _split_name(held_split)
    evidence = out["evidence"]
    shown = ", ".join(f"{_fmt(scores[s])} on {_split_name(s)}" for s in scores)
    evidence.append(f"{label}: {shown}. {baseline_text}")
    evidence.append(
        f"On a scale where that baseline is 0 and a perfect score 1, the training rows reach "
        f"{skill['train']:.2f} and {held_name} {skill[held_split]:.2f}: a gap of {gap:.2f} "
        f"(overfitting above {OVERFIT_SKILL_GAP}; underfitting when train is below "
        f"{UNDERFIT_SKILL})."
    )

    overfit = gap > OVERFIT_SKILL_GAP
    train_loss = (metrics.get("train") or {}).get(loss)
    held_loss = (metrics.get(held_split) or {}).get(loss)
    if train_loss is not None and held_loss is not None:
        out["loss"] = {"metric": loss, "train": train_loss, held_split: held_loss}
        if problem_type == REGRESSION:
            ratio = held_loss / train_loss if train_loss > 0 else math.inf
            out["loss"]["ratio"] = round(ratio, 4) if math.isfinite(ratio) else None
            evidence.append(
                f"{loss_label} is {_fmt(train_loss)} on the training rows and {_fmt(held_loss)} on "
                f"{held_name}: {ratio:.2f} times as large (overfitting above "
                f"{OVERFIT_RMSE_RATIO})."
            )
            overfit = overfit or ratio > OVERFIT_RMSE_RATIO
        elif shares:
            entropy = -sum(p * math.log(p) for p in shares if p > 0)
            loss_gap = (held_loss - train_loss) / entropy if entropy > 0 else 0.0
            ratio = held_loss / train_loss if train_loss > 0 else math.inf
            out["loss"]["baseline"] = round(entropy, 4)
            out["loss"]["gap"] = round(loss_gap, 4)
            out["loss"]["ratio"] = round(ratio, 4) if math.isfinite(ratio) else None
            evidence.append(
                f"{loss_label} is {_fmt(train_loss)} on the training rows and {_fmt(held_loss)} on "
                f"{held_name} ({ratio:.2f} times as large); the difference is {loss_gap:.2f} of "
                f"the {entropy:.3f} a model that predicts the class shares scores (overfitting "
                f"above {OVERFIT_SKILL_GAP} and {OVERFIT_LOG_LOSS_RATIO} times)."
            )
            overfit = overfit or (loss_gap > OVERFIT_SKILL_GAP and ratio > OVERFIT_LOG_LOSS_RATIO)
            if held_loss > entropy:
                evidence.append(
                    f"{held_name.capitalize()} log loss is worse than the {entropy:.3f} of "
                    "predicting the class shares: the probabilities are badly calibrated (see "
                    "the calibration curve), whatever the ranking quality."
                )

    if overfit:
        verdict = "overfitting"
    elif skill["train"] < UNDERFIT_SKILL:
        verdict = "underfitting"
    else:
        verdict = "balanced"
    out["verdict"] = verdict

    if gap < -0.05:
        evidence.append(
            f"{held_name.capitalize()} scores higher than the training rows: check that the "
            "held-out rows are not easier (or leaking from training) and that the split is "
            "large enough."
        )
    if "validation" in skill and "test" in skill and held_split != "test":
        difference = skill["validation"] - skill["test"]
        if abs(difference) > SPLIT_DISAGREEMENT:
            evidence.append(
                f"Validation and test disagree ({_fmt(scores['validation'])} against "
                f"{_fmt(scores['test'])}): one of the splits may be small or drawn from other "
                "rows; "
                + (
                    "the test split is the honest estimate."
                    if difference > 0
                    else "the model generalises better than validation suggested."
                )
            )
    spread = (metrics.get("cv_std") or {}).get(metric)
    if held_split == "cv_mean" and spread is not None:
        evidence.append(f"Across folds {label} varies by ±{_fmt(spread)} (standard deviation).")

    more_data = None
    if learning_curve and len(learning_curve) >= 2:
        last, before = learning_curve[-1], learning_curve[-2]
        if last.get("validation") is not None and before.get("validation") is not None:
            gain = _skill(last["validation"], baseline) - _skill(before["validation"], baseline)
            more_data = gain > LEARNING_CURVE_GAIN
            evidence.append(
                f"Learning curve: validation {label} goes from {_fmt(before['validation'])} with "
                f"{before['rows']} training rows to {_fmt(last['validation'])} with "
                f"{last['rows']}; "
                + (
                    "it is still rising, so more data should help."
                    if more_data
                    else "it has levelled off, so more rows of the same kind will help little."
                )
            )
    out["suggestions"] = _suggestions(verdict, algorithm, more_data)
    return out


def _class_shares(metrics: dict) -> list[float] | None:
    """Class shares from the training rows' confusion matrix (rows are the actual classes)."""
    for split in ("train", "validation", "test"):
        matrix = (metrics.get(split) or {}).get("confusion_matrix")
        if matrix:
            counts = [sum(row) for row in matrix]
            total = sum(counts)
            if total:
                return [c / total for c in counts]
    return None


def _baseline(problem_type: str, shares: list[float] | None) -> tuple[float, str]:
    if problem_type == BINARY:
        return 0.5, "A model that guesses scores 0.5."
    if problem_type == REGRESSION:
        return 0.0, "Predicting the mean scores 0."
    if shares:
        majority = max(shares)
        return majority, f"Always predicting the most common class scores {majority:.3f}."
    return 0.0, "The class shares are unknown, so the baseline is taken as 0."


def _skill(score: float, baseline: float) -> float:
    return (score - baseline) / (1.0 - baseline) if baseline < 1.0 else 0.0


def _suggestions(verdict: str, algorithm: str | None, more_data: bool | None) -> list[str]:
    out = []
    if verdict == "overfitting":
        hint = _REGULARISE.get(algorithm or "")
        out.append(
            "More regularisation"
            + (f": {hint}." if hint else " (a simpler, more constrained model).")
        )
        if more_data is not False:
            out.append(
                "More data: more training rows usually narrow the gap between training and "
                "held-out scores (see the learning curve)."
            )
        out.append(
            "Fewer features: drop columns whose permutation importance is about zero or "
            "negative, and look for identifier-like or leaking columns the model can memorise."
        )
    elif verdict == "underfitting":
        hint = _LOOSEN.get(algorithm or "")
        out.append(
            "Less regularisation, more capacity"
            + (f": {hint}." if hint else " (a more flexible model).")
        )
        out.append(
            "More or better features: add informative columns, interactions or aggregates. "
            "More rows alone rarely help a model that cannot fit its training rows."
        )
    elif verdict == "balanced":
        out.append(
            "Training and held-out scores agree. Further gains come from better features or "
            "tuning; compare runs with 'kiln train --experiment NAME' and 'kiln experiments'."
        )
        if more_data:
            out.append("More data: the validation score is still rising with training-set size.")
    return out


def _split_name(split: str) -> str:
    return {"cv_mean": "the cross-validation mean", "train": "train"}.get(split, split)


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"
