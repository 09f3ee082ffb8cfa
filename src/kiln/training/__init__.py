"""Training: a job that splits, preprocesses, fits, evaluates and registers a model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiln.algorithms import PROBLEM_TYPES, get_algorithm
from kiln.errors import ConfigError
from kiln.refs import check_name
from kiln.training._model import TrainedModel

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.registry import ModelVersion
    from kiln.workspace import Workspace

__all__ = ["TrainedModel", "TrainingResult", "train", "training_spec"]


@dataclass(frozen=True)
class TrainingResult:
    job: Job
    model: ModelVersion

    @property
    def metrics(self) -> dict:
        return self.job.result["metrics"]

    @property
    def criteria(self) -> list[dict]:
        return self.job.result.get("criteria", [])

    def to_dict(self) -> dict:
        out = {"job": self.job.id, "model": self.model.ref, "metrics": self.metrics}
        if self.criteria:
            out["criteria"] = self.criteria
            out["passed"] = all(c["passed"] for c in self.criteria)
        return out


def train(
    workspace: Workspace,
    data: str,
    *,
    algorithm: str,
    target: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    name: str | None = None,
    problem_type: str | None = None,
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
    time_column: str | None = None,
    validation: str = "holdout",
    group_column: str | None = None,
    require: list[str] | None = None,
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    experiment: str | None = None,
    seed: int = 42,
    recipe: Any = None,
    on_log: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Train ``algorithm`` on data set ``data`` as a job in its own process, and register the model.

    Parameters
    ----------
    data
        A data set reference: ``name`` (latest version) or ``name:3``.
    target
        The column to predict. Unsupervised algorithms (clustering, anomaly detection, PCA, topic
        models) need none; given one, they use it only to evaluate (e.g. adjusted Rand index).
    hyperparameters
        Overrides of the algorithm's defaults; see ``kiln algorithms show NAME``.
    name
        The model group to register in; defaults to the data set name.
    problem_type
        ``binary``, ``multiclass`` or ``regression``; inferred from the target when omitted.
    validation
        ``holdout`` (the default), ``kfold:K``, ``stratified_kfold:K``, ``repeated_kfold:KxR``,
        ``loocv``, ``timeseries:K`` (needs ``time_column``) or ``group_kfold:K`` (needs
        ``group_column``). Cross-validation runs on the train + validation rows, reports each
        metric's mean and standard deviation, and refits the final model on all of them.
    require
        Success criteria such as ``"roc_auc>=0.85"`` or ``"test.rmse<3000"``; a model that fails
        one is registered as Rejected with the failures as the reason.
    cost_fp, cost_fn
        Business cost of a false positive / negative (binary): the decision threshold that
        minimises the expected cost on validation (or out-of-fold) predictions is chosen, and the
        model uses it.
    experiment
        Group this run with others under an experiment name (``kiln experiments``).
    recipe
        Feature engineering instead of the default recipe: a YAML file path, a list of step
        dicts or a ``kiln.recipe.Recipe`` (see docs/recipes.md). It is checked against the data
        set's columns before the job starts, and fit on the training rows only.

    Returns
    -------
    TrainingResult
        The completed job and the registered model version. A job that fails with a kiln error
        (bad data, say) raises that error, with its code and ``job_id``; a job that crashes or is
        stopped raises ``JobFailed``.
    """
    from kiln.compute import LocalExecutor

    spec, dataset = training_spec(
        workspace,
        data,
        algorithm=algorithm,
        target=target,
        hyperparameters=hyperparameters,
        name=name,
        problem_type=problem_type,
        ratios=ratios,
        time_column=time_column,
        validation=validation,
        group_column=group_column,
        require=require,
        cost_fp=cost_fp,
        cost_fn=cost_fn,
        experiment=experiment,
        seed=seed,
        recipe=recipe,
    )
    if workspace.settings.executor != "local":
        raise ConfigError(
            f"Unknown executor {workspace.settings.executor!r}. Available: local.",
            code="compute.unknown-executor",
        )
    job = workspace.jobs.create("training", spec, experiment=experiment)
    workspace.jobs.add_lineage(job.id, ("dataset_version", dataset.id), "input")
    finished = LocalExecutor(workspace).run(job, on_log=on_log)
    return TrainingResult(job=finished, model=workspace.models.get(finished.result["model"]))


def _checked_recipe(recipe, dataset, algorithm, target, group_column, problem_type, workspace):
    """The recipe as JSON steps, checked against the columns the job will give it."""
    from kiln.recipe import Recipe, model_inputs, plan

    parsed = Recipe.parse(recipe)
    columns = {c: t for c, t in dataset.column_types().items() if c not in (target, group_column)}
    if problem_type is None and target is not None:
        problem_type = "supervised"
        if any(step.training_only and step.needs_target for step in parsed.steps):
            from kiln.training._job import infer_problem_type

            values = workspace.data.load(dataset, columns=[target])[target]
            problem_type = infer_problem_type(values)
    reads = plan(parsed, columns, problem_type)
    plan(parsed, model_inputs(columns, reads, text_input=algorithm.text_input), problem_type)
    return parsed.to_list()


def training_spec(
    workspace: Workspace,
    data: str,
    *,
    algorithm: str,
    target: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    name: str | None = None,
    problem_type: str | None = None,
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
    time_column: str | None = None,
    validation: str = "holdout",
    group_column: str | None = None,
    require: list[str] | None = None,
    cost_fp: float | None = None,
    cost_fn: float | None = None,
    experiment: str | None = None,
    seed: int = 42,
    recipe: Any = None,
) -> tuple[dict, Any]:
    """The checked spec of a training job (see :func:`train`) and its data set version."""
    from kiln.algorithms import UNSUPERVISED_PROBLEM_TYPES
    from kiln.data._catalog import _unknown_column
    from kiln.data._split import check_ratios
    from kiln.evaluation import metric_names
    from kiln.training._criteria import check_metric_names, parse_criterion
    from kiln.training._validation import parse_validation

    dataset = workspace.data.get(data)
    spec_algorithm = get_algorithm(algorithm)
    supervised = not set(spec_algorithm.problem_types) & set(UNSUPERVISED_PROBLEM_TYPES)
    if target is None and supervised:
        raise ConfigError(
            f"{spec_algorithm.name} is supervised: give the column to predict with --target.",
            code="training.missing-target",
            field="target",
        )
    if target is not None and target not in dataset.columns:
        raise _unknown_column(target, dataset)
    if time_column is not None and time_column not in dataset.columns:
        raise _unknown_column(time_column, dataset)
    if problem_type is not None and problem_type not in spec_algorithm.problem_types:
        if problem_type in (*PROBLEM_TYPES, *UNSUPERVISED_PROBLEM_TYPES):
            raise ConfigError(
                f"{spec_algorithm.name} does not do {problem_type}; it does "
                f"{', '.join(spec_algorithm.problem_types)}.",
                code="algorithm.problem-type",
            )
        raise ConfigError(
            f"Unknown problem type {problem_type!r}. Use one of {', '.join(PROBLEM_TYPES)}.",
            code="training.bad-problem-type",
        )
    checked = parse_validation(validation)
    if checked.kind == "timeseries" and time_column is None:
        raise ConfigError(
            "timeseries validation needs --time-column, the column that orders the rows.",
            code="training.bad-validation",
            field="time_column",
        )
    if checked.kind == "group_kfold" and group_column is None:
        raise ConfigError(
            "group_kfold validation needs --group-column, the column whose values must not be "
            "split across folds.",
            code="training.bad-validation",
            field="group_column",
        )
    if group_column is not None and group_column not in dataset.columns:
        raise _unknown_column(group_column, dataset)
    criteria = [parse_criterion(c) for c in require or []]
    check_metric_names(criteria, metric_names())
    for option, cost in (("cost_fp", cost_fp), ("cost_fn", cost_fn)):
        if cost is not None and (cost < 0 or cost != cost):
            raise ConfigError(
                f"{option} must be a cost of 0 or more. Got {cost}.",
                code="training.bad-cost",
                field=option,
            )
    if experiment is not None:
        check_name(experiment, what="experiment")
    steps = None
    if recipe is not None:
        steps = _checked_recipe(
            recipe, dataset, spec_algorithm, target, group_column, problem_type, workspace
        )
    spec = {
        "dataset": dataset.ref,
        "dataset_version_id": dataset.id,
        "target": target,
        "algorithm": spec_algorithm.name,
        "hyperparameters": spec_algorithm.hyperparameters(hyperparameters),
        "group": check_name(name or dataset.name, what="model group"),
        "problem_type": problem_type,
        "ratios": list(check_ratios(tuple(ratios))),
        "time_column": time_column,
        "validation": str(checked),
        "group_column": group_column,
        "require": [c.text for c in criteria],
        "cost_fp": cost_fp,
        "cost_fn": cost_fn,
        "seed": int(seed),
        "recipe": steps,
    }
    return spec, dataset
