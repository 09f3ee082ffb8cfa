"""``kiln tune``: start (or resume) a tuning job and wait for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kiln.algorithms import get_algorithm
from kiln.compute import executor_for
from kiln.errors import ConfigError, StateError
from kiln.problems import DEFAULT_OBJECTIVE, LOWER_IS_BETTER, infer_problem_type, metric_names
from kiln.training import TrainingOptions, training_spec
from kiln.tuning._job import STRATEGIES
from kiln.tuning._space import search_space

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.context import Context


@dataclass(frozen=True)
class TuningResult:
    job: Job

    @property
    def best(self) -> dict:
        return self.job.result["best"]

    def to_dict(self) -> dict:
        result = self.job.result
        return {"job": self.job.id, "best": result["best"], "trials": result["trials"]}


def tune(
    workspace: Context,
    data: str,
    *,
    target: str | None = None,
    algorithm: str,
    objective: str | None = None,
    direction: str | None = None,
    strategy: str = "tpe",
    max_jobs: int = 20,
    max_parallel_jobs: int = 1,
    ranges: list[str] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    warm_start: str | None = None,
    early_stopping: str = "off",
    seed: int = 42,
    on_log: Callable[[str], None] | None = None,
    **training: Any,
) -> TuningResult:
    """Search ``algorithm``'s hyperparameters on data set ``data``: each trial is a training job
    (a child of the tuning job); the best trial's model is registered. ``training`` takes the
    fields of :class:`kiln.training.TrainingOptions` (validation, ratios, recipe, name,
    ``problem``, ...); with ``problem=``, the target defaults from it and the best trial's model
    is checked against its criteria before it is registered."""

    chosen = get_algorithm(algorithm)
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"Unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}.",
            code="tuning.bad-strategy",
            field="strategy",
        )
    for option, value in (("max_jobs", max_jobs), ("max_parallel_jobs", max_parallel_jobs)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"{option} must be a whole number of at least 1; got {value!r}.",
                code="tuning.bad-option",
                field=option,
            )
    if early_stopping not in ("auto", "off"):
        raise ConfigError(
            f"early_stopping is auto or off; got {early_stopping!r}.",
            code="tuning.bad-option",
            field="early_stopping",
        )
    static = chosen.hyperparameters(hyperparameters)
    given = dict(hyperparameters or {})
    space = search_space(chosen, ranges, static=given)
    options = replace(
        TrainingOptions.of(**training), target=target, hyperparameters=given, seed=seed
    )
    checked, dataset = training_spec(workspace, data, algorithm=algorithm, options=options)
    spec = checked.to_dict() | {"hyperparameters": static}
    objective = objective or _default_objective(workspace, dataset, checked.target, spec)
    if objective not in metric_names():
        raise ConfigError(
            f"Unknown objective metric {objective!r}; metrics: {', '.join(metric_names())}.",
            code="tuning.bad-objective",
            field="objective",
        )
    direction = direction or ("minimize" if objective in LOWER_IS_BETTER else "maximize")
    if direction not in ("maximize", "minimize"):
        raise ConfigError(
            f"direction is maximize or minimize; got {direction!r}.",
            code="tuning.bad-option",
            field="direction",
        )
    if warm_start is not None:
        previous = workspace.jobs.get(warm_start)
        if previous.kind != "tuning":
            raise StateError(
                f"Job {previous.id} is a {previous.kind} job; warm start takes a tuning job.",
                code="tuning.bad-warm-start",
            )
        warm_start = previous.id  # the whole id, when given a prefix of it
    job = workspace.jobs.create(
        "tuning",
        {
            "training": spec,
            "space": [r.to_text() for r in space],
            "objective": objective,
            "direction": direction,
            "strategy": strategy,
            "max_jobs": max_jobs,
            "max_parallel_jobs": min(max_parallel_jobs, max_jobs),
            "warm_start": warm_start,
            "early_stopping": early_stopping,
            "seed": seed,
        },
    )
    workspace.jobs.add_lineage(job.id, ("dataset_version", dataset.id), "input")
    return TuningResult(executor_for(workspace).run(job, on_log=on_log))


def _default_objective(workspace, dataset, target, spec) -> str:
    problem = spec.get("problem_type") or infer_problem_type(
        workspace.data.load(dataset, columns=[target])[target]
    )
    return DEFAULT_OBJECTIVE[problem]


def resume(
    workspace: Context, job_id: str, *, on_log: Callable[[str], None] | None = None
) -> TuningResult:
    """Run an interrupted (Failed or Stopped) tuning job again; finished trials are kept."""

    job = workspace.jobs.get(job_id)
    if job.kind != "tuning":
        raise StateError(
            f"Job {job.id} is a {job.kind} job; only tuning jobs resume.",
            code="jobs.not-resumable",
        )
    return TuningResult(executor_for(workspace).run(workspace.jobs.reopen(job.id), on_log=on_log))
