"""``train``: check a training spec, run it as a job, and return the registered model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiln.algorithms import PROBLEM_TYPES, get_algorithm
from kiln.compute import executor_for
from kiln.data import check_ratios, unknown_column
from kiln.errors import ConfigError
from kiln.problems import UNSUPERVISED_PROBLEM_TYPES, infer_problem_type, metric_names
from kiln.recipe import Recipe, model_inputs, plan
from kiln.refs import check_name
from kiln.training._criteria import (
    check_metric_names,
    check_problem_fits,
    parse_criterion,
    resolve_problem,
)
from kiln.training._options import TrainingOptions, TrainingSpec
from kiln.training._validation import parse_validation

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.context import Context
    from kiln.registry import ModelVersion

__all__ = ["TrainingResult", "train", "training_spec"]


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
        if self.job.result.get("problem"):
            out["problem"] = self.job.result["problem"]
        return out


def train(
    workspace: Context,
    data: str,
    *,
    algorithm: str,
    options: TrainingOptions | None = None,
    on_log: Callable[[str], None] | None = None,
    **given: Any,
) -> TrainingResult:
    """Train ``algorithm`` on data set ``data`` as a job in its own process, and register the model.

    Parameters
    ----------
    data
        A data set reference: ``name`` (latest version) or ``name:3``.
    algorithm
        A built-in algorithm (``kiln algorithms list``).
    options, **given
        A :class:`TrainingOptions`, or its fields as keyword arguments (``target=``,
        ``validation=``, ``hyperparameters=``, ...; each is described there).
    on_log
        Called with each line the job logs.

    Returns
    -------
    TrainingResult
        The completed job and the registered model version. A job that fails with a kiln error
        raises that error (a ``DataError`` for bad data); one that crashes raises ``JobFailed``.
    """
    options = _options(options, given)
    spec, dataset = training_spec(workspace, data, algorithm=algorithm, options=options)
    job = workspace.jobs.create("training", spec.to_dict(), experiment=options.experiment)
    workspace.jobs.add_lineage(job.id, ("dataset_version", dataset.id), "input")
    finished = executor_for(workspace).run(job, on_log=on_log)
    return TrainingResult(job=finished, model=workspace.models.get(finished.result["model"]))


def _options(options: TrainingOptions | None, given: dict[str, Any]) -> TrainingOptions:
    if options is not None and given:
        raise ConfigError(
            f"Give the training options either as options=TrainingOptions(...) or as keyword "
            f"arguments, not both (got options and {', '.join(sorted(given))}).",
            code="training.unknown-option",
        )
    return options if options is not None else TrainingOptions.of(**given)


def _checked_recipe(recipe, dataset, algorithm, target, group_column, problem_type, workspace):
    """The recipe as JSON steps, checked against the columns the job will give it."""
    parsed = Recipe.parse(recipe)
    columns = {c: t for c, t in dataset.column_types().items() if c not in (target, group_column)}
    if problem_type is None and target is not None:
        problem_type = "supervised"
        if any(step.training_only and step.needs_target for step in parsed.steps):
            values = workspace.data.load(dataset, columns=[target])[target]
            problem_type = infer_problem_type(values)
    reads = plan(parsed, columns, problem_type)
    plan(parsed, model_inputs(columns, reads, text_input=algorithm.text_input), problem_type)
    return parsed.to_list()


def training_spec(
    workspace: Context,
    data: str,
    *,
    algorithm: str,
    options: TrainingOptions | None = None,
    **given: Any,
) -> tuple[TrainingSpec, Any]:
    """The checked spec of a training job (see :func:`train`) and its data set version."""
    options = _options(options, given)
    target = options.target
    hyperparameters = options.hyperparameters
    name = options.name
    problem_type = options.problem_type
    ratios = options.ratios
    time_column = options.time_column
    validation = options.validation
    group_column = options.group_column
    require = options.require
    cost_fp = options.cost_fp
    cost_fn = options.cost_fn
    experiment = options.experiment
    seed = options.seed
    recipe = options.recipe
    dataset = workspace.data.get(data)
    problem = None
    if options.problem is not None:
        problem, target, problem_type = resolve_problem(
            workspace, options.problem, dataset, target=target, problem_type=problem_type
        )
    spec_algorithm = get_algorithm(algorithm)
    supervised = not set(spec_algorithm.problem_types) & set(UNSUPERVISED_PROBLEM_TYPES)
    if target is None and supervised:
        raise ConfigError(
            f"{spec_algorithm.name} is supervised: give the column to predict with --target.",
            code="training.missing-target",
            field="target",
        )
    if target is not None and target not in dataset.columns:
        raise unknown_column(target, dataset)
    if time_column is not None and time_column not in dataset.columns:
        raise unknown_column(time_column, dataset)
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
    needs = checked.strategy.needs
    given = {"time_column": time_column, "group_column": group_column}
    if needs is not None and given[needs] is None:
        raise ConfigError(
            f"{checked.kind} validation needs --{needs.replace('_', '-')}, "
            f"{checked.strategy.needs_why}.",
            code="training.bad-validation",
            field=needs,
        )
    if group_column is not None and group_column not in dataset.columns:
        raise unknown_column(group_column, dataset)
    criteria = [parse_criterion(c) for c in require or []]
    problem_criteria = problem.criteria if problem is not None else None
    if criteria or problem_criteria:
        # Checked against the metrics this run will report, so a criterion it can never meet
        # fails here, not as a Failed job after the training.
        kind = problem_type
        if kind is None and not supervised:
            kind = spec_algorithm.problem_types[0]
        elif kind is None and target is not None:
            kind = infer_problem_type(workspace.data.load(dataset, columns=[target])[target])
        check_metric_names(criteria, metric_names(kind), problem_type=kind)
        if problem_criteria:
            check_problem_fits(problem, kind)
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
    spec = TrainingSpec(
        dataset=dataset.ref,
        dataset_version_id=dataset.id,
        target=target,
        algorithm=spec_algorithm.name,
        hyperparameters=spec_algorithm.hyperparameters(hyperparameters),
        group=check_name(name or dataset.name, what="model group"),
        problem_type=problem_type,
        ratios=list(check_ratios(tuple(ratios))),
        time_column=time_column,
        validation=str(checked),
        group_column=group_column,
        require=[c.text for c in criteria],
        cost_fp=cost_fp,
        cost_fn=cost_fn,
        seed=int(seed),
        recipe=steps,
        problem=problem.ref if problem is not None else None,
    )
    return spec, dataset
