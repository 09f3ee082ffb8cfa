"""The metrics kiln reports, by problem type, with the direction in which each is better.

This is the one table of metrics: evaluation computes them, success criteria and tuning
objectives are checked against it, and experiments, tuning and AutoML rank by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.problems._target import BINARY, FORECASTING, MULTICLASS, REGRESSION

__all__ = [
    "CLASSIFICATION_METRICS",
    "DEFAULT_OBJECTIVE",
    "FORECASTING_METRICS",
    "LOWER_IS_BETTER",
    "METRICS",
    "MULTICLASS_METRICS",
    "PRIMARY_METRIC",
    "REGRESSION_METRICS",
    "UNSUPERVISED_METRICS",
    "METRIC_SOURCES",
    "SELECTION_SOURCES",
    "Metric",
    "headline_metrics",
    "legacy_automl_metrics",
    "metric_names",
    "selection_source",
]

CLASSIFICATION_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
)
REGRESSION_METRICS = ("mse", "rmse", "mae", "mape", "r2", "adjusted_r2")
# Forecasts scored over backtest windows (docs/forecasting.md): scaled, relative and absolute
# errors of the point forecast, the weighted quantile loss of the quantiles, and how often the
# outermost interval held the actual value.
FORECASTING_METRICS = ("mase", "smape", "mape", "rmse", "wql", "coverage")
MULTICLASS_METRICS = (
    "accuracy",
    "log_loss",
    *(
        f"{m}_{a}"
        for m in ("precision", "recall", "f1", "specificity", "roc_auc", "pr_auc")
        for a in ("macro", "weighted")
    ),
)
# Metrics where smaller is better; everything else is maximised.
LOWER_IS_BETTER = {
    "log_loss",
    "mse",
    "rmse",
    "mae",
    "mape",
    "mase",
    "smape",
    "wql",
    "davies_bouldin",
    "reconstruction_mse",
    "perplexity",
}
UNSUPERVISED_METRICS = {
    "clustering": (
        "clusters",
        "noise_share",
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
        "rand",
        "adjusted_rand",
        "adjusted_mutual_info",
    ),
    "anomaly_detection": (
        "flagged_share",
        "score_mean",
        "score_p95",
        "roc_auc",
        "pr_auc",
        "precision",
        "recall",
    ),
    "dimensionality_reduction": ("explained_variance", "reconstruction_mse", "components"),
    "topic_modeling": ("perplexity", "log_likelihood"),
}


_BY_PROBLEM_TYPE = {
    BINARY: CLASSIFICATION_METRICS,
    MULTICLASS: MULTICLASS_METRICS,
    REGRESSION: REGRESSION_METRICS,
    FORECASTING: FORECASTING_METRICS,
    **UNSUPERVISED_METRICS,
}
# The metric that ranks models of a problem type (experiments' best run, the tuning objective
# when none is given); higher or lower is better as LOWER_IS_BETTER says.
PRIMARY_METRIC = {
    BINARY: "roc_auc",
    MULTICLASS: "accuracy",
    REGRESSION: "rmse",
    FORECASTING: "mase",
}
# What a search optimises when it is given no metric (a tuning job's objective, AutoML's metric).
# For multiclass it is log loss, not accuracy: a proper scoring rule that still moves when a
# search's candidates all classify the same rows right.
DEFAULT_OBJECTIVE = {
    BINARY: "roc_auc",
    MULTICLASS: "log_loss",
    REGRESSION: "rmse",
    FORECASTING: "wql",
}


@dataclass(frozen=True)
class Metric:
    """A metric kiln reports: its name, the problem types that report it, and its direction."""

    name: str
    problem_types: tuple[str, ...]
    lower_is_better: bool

    @property
    def direction(self) -> str:
        """Optuna's word for it: ``minimize`` or ``maximize``."""
        return "minimize" if self.lower_is_better else "maximize"


METRICS: dict[str, Metric] = {
    name: Metric(
        name=name,
        problem_types=tuple(k for k, names in _BY_PROBLEM_TYPE.items() if name in names),
        lower_is_better=name in LOWER_IS_BETTER,
    )
    for names in _BY_PROBLEM_TYPE.values()
    for name in names
}


def metric_names(problem_type: str | None = None) -> set[str]:
    """The metric names a problem type reports (all of them when ``problem_type`` is None)."""
    if problem_type is None:
        return set(METRICS)
    return set(_BY_PROBLEM_TYPE[problem_type])


# Where a model's metrics came from: the key of each part of a model version's (and a job's)
# ``metrics``, and the words the CLI and the reports show for it. Each is its own column; one
# source's number never stands in for another's.
METRIC_SOURCES = {
    "test": "test",
    "backtest": "backtest",
    "validation": "validation",
    "cv_mean": "cv mean",
    "oof": "out-of-fold",
}
# The sources a choice between runs may rest on, in order of preference. The test split is never
# one of them: a number used to choose is no longer an unbiased estimate.
SELECTION_SOURCES = ("validation", "oof", "cv_mean", "backtest")
# The one metric the model list shows for each problem type, the first one a version has.
HEADLINE_METRICS = ("roc_auc", "roc_auc_macro", "accuracy", "mase", "rmse", "r2")


def headline_metrics(metrics: dict) -> tuple[str | None, dict[str, float]]:
    """(metric name, {source: value}): one headline metric and its value from each source that
    has it (test, validation, cv mean, out-of-fold), so a list can show them side by side."""
    parts = {s: metrics.get(s) or {} for s in METRIC_SOURCES}
    for name in HEADLINE_METRICS:
        values = {s: part[name] for s, part in parts.items() if part.get(name) is not None}
        if values:
            return name, values
    return None, {}


def selection_source(metrics: dict) -> str | None:
    """The part of ``metrics`` a choice between runs should rest on: validation, else
    out-of-fold, else the cross-validation mean; None when there is none (test never is)."""
    return next((s for s in SELECTION_SOURCES if metrics.get(s)), None)


def legacy_automl_metrics(metrics: dict) -> dict:
    """An AutoML model's (or job's) metrics with the out-of-fold part under ``oof``: records
    made before metrics were labelled by source kept it under ``validation``."""
    if "validation" in metrics and "oof" not in metrics:
        return {("oof" if k == "validation" else k): v for k, v in metrics.items()}
    return metrics
