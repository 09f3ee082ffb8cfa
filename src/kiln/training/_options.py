"""The training options, defined once: ``ws.train``, ``kiln train``, tuning trials and the job
spec all use these two types."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kiln.errors import ConfigError

__all__ = ["TrainingOptions", "TrainingSpec"]


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """How to train a model, besides the data set and the algorithm.

    Parameters
    ----------
    target
        The column to predict. Unsupervised algorithms (clustering, anomaly detection, PCA, topic
        models) need none; given one, they use it only to evaluate (e.g. adjusted Rand index).
    hyperparameters
        Overrides of the algorithm's defaults; see ``kiln algorithms show NAME``.
    name
        The model group to register in; defaults to the data set name.
    problem_type
        ``binary``, ``multiclass`` or ``regression``; inferred from the target when omitted.
    ratios
        Train, validation and test shares of the rows.
    time_column
        Split (and ``timeseries``-validate) in the order of this column.
    validation
        ``holdout`` (the default), ``kfold:K``, ``stratified_kfold:K``, ``repeated_kfold:KxR``,
        ``repeated_stratified_kfold:KxR``, ``loocv``, ``timeseries:K`` (needs ``time_column``)
        or ``group_kfold:K`` (needs ``group_column``). Cross-validation runs on the train +
        validation rows, reports each metric's mean and standard deviation, and refits the final
        model on all of them.
    group_column
        The column whose values must not be split across folds (``group_kfold``).
    require
        Success criteria such as ``"roc_auc>=0.85"`` or ``"test.rmse<3000"``; a model that fails
        one is registered as Rejected with the failures as the reason.
    cost_fp, cost_fn
        Business cost of a false positive / negative (binary): the decision threshold that
        minimises the expected cost on validation (or out-of-fold) predictions is chosen, and the
        model uses it.
    experiment
        Group this run with others under an experiment name (``kiln experiments``).
    seed
        Seeds the split, the folds and the estimator.
    recipe
        Feature engineering instead of the default recipe: a YAML file path, a list of step
        dicts or a ``kiln.recipe.Recipe`` (see docs/recipes.md). It is checked against the data
        set's columns before the job starts, and fit on the training rows only.
    problem
        A problem spec (``"churn"`` for its latest version, or ``"churn:2"``): the target and
        problem type default from it, and the model is checked against every criterion it
        has (metrics, cost, latency) besides ``require``; see docs/problems.md.
    """

    target: str | None = None
    hyperparameters: dict[str, Any] | None = None
    name: str | None = None
    problem_type: str | None = None
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    time_column: str | None = None
    validation: str = "holdout"
    group_column: str | None = None
    require: list[str] | None = None
    cost_fp: float | None = None
    cost_fn: float | None = None
    experiment: str | None = None
    seed: int = 42
    recipe: Any = None
    problem: str | None = None

    @classmethod
    def of(cls, **options: Any) -> TrainingOptions:
        """The options from keyword arguments; an unknown name is refused with the closest."""
        known = [f.name for f in fields(cls)]
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"Unknown training option {name!r}.{hint} Options: {', '.join(known)}.",
                    code="training.unknown-option",
                    field=name,
                )
        return cls(**options)


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """The checked specification a training job runs: stored on the job as ``to_dict()``.

    ``register`` is False for a tuning trial (the tuning job registers the best) and ``tuning``
    holds what the tuning job tells its trial (its number, live reporting).
    """

    dataset: str
    dataset_version_id: str
    target: str | None
    algorithm: str
    hyperparameters: dict[str, Any]
    group: str
    problem_type: str | None
    ratios: list[float]
    time_column: str | None
    validation: str
    group_column: str | None
    require: list[str]
    cost_fp: float | None
    cost_fn: float | None
    seed: int
    recipe: list[dict] | None
    # The problem spec's version ("churn:2"), fixed when the job is created.
    problem: str | None = None
    register: bool = True
    tuning: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["register"]:
            del out["register"]
        if not out["tuning"]:
            del out["tuning"]
        if out["problem"] is None:
            del out["problem"]
        return out

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> TrainingSpec:
        """A stored spec (older jobs may lack the newer optional keys)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in spec.items() if k in names}
        values.setdefault("validation", "holdout")
        for optional in ("time_column", "group_column", "cost_fp", "cost_fn", "recipe"):
            values.setdefault(optional, None)
        values.setdefault("require", [])
        values["tuning"] = values.get("tuning") or {}
        return cls(**values)
