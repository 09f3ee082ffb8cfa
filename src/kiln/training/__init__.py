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

__all__ = ["TrainedModel", "TrainingResult", "train"]


@dataclass(frozen=True)
class TrainingResult:
    job: Job
    model: ModelVersion

    @property
    def metrics(self) -> dict:
        return self.job.result["metrics"]

    def to_dict(self) -> dict:
        return {"job": self.job.id, "model": self.model.ref, "metrics": self.metrics}


def train(
    workspace: Workspace,
    data: str,
    *,
    target: str,
    algorithm: str,
    hyperparameters: dict[str, Any] | None = None,
    name: str | None = None,
    problem_type: str | None = None,
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
    time_column: str | None = None,
    seed: int = 42,
    on_log: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Train ``algorithm`` on data set ``data`` as a job in its own process, and register the model.

    Parameters
    ----------
    data
        A data set reference: ``name`` (latest version) or ``name:3``.
    target
        The column to predict.
    hyperparameters
        Overrides of the algorithm's defaults; see ``kiln algorithms show NAME``.
    name
        The model group to register in; defaults to the data set name.
    problem_type
        ``binary``, ``multiclass`` or ``regression``; inferred from the target when omitted.

    Returns
    -------
    TrainingResult
        The completed job and the registered model version. Raises ``JobFailed`` otherwise.
    """
    from kiln.compute import LocalExecutor
    from kiln.data._catalog import _unknown_column
    from kiln.data._split import check_ratios

    dataset = workspace.data.get(data)
    if target not in dataset.columns:
        raise _unknown_column(target, dataset)
    if time_column is not None and time_column not in dataset.columns:
        raise _unknown_column(time_column, dataset)
    spec_algorithm = get_algorithm(algorithm)
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"Unknown problem type {problem_type!r}. Use one of {', '.join(PROBLEM_TYPES)}.",
            code="training.bad-problem-type",
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
        "seed": int(seed),
    }
    if workspace.settings.executor != "local":
        raise ConfigError(
            f"Unknown executor {workspace.settings.executor!r}. Available: local.",
            code="compute.unknown-executor",
        )
    job = workspace.jobs.create("training", spec)
    workspace.jobs.add_lineage(job.id, ("dataset_version", dataset.id), "input")
    finished = LocalExecutor(workspace).run(job, on_log=on_log)
    return TrainingResult(job=finished, model=workspace.models.get(finished.result["model"]))
