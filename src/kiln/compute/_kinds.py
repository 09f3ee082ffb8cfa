"""Job kinds: one table from a kind's name to its run and report functions.

Compute never dispatches on a kind's name: the executor runs ``kind.run`` and
``JobService.report`` calls ``kind.report``. The functions are named as ``"module:function"``
strings and imported only when a job of that kind runs, so a job's process loads the libraries of
its own kind and no others, and compute needs no import of the layers above it. The built-in
kinds are registered by :mod:`kiln.context`; another package registers its own the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from kiln.errors import ConfigError

__all__ = ["JobKind", "job_kind", "job_kinds", "register_job_kind"]


@dataclass(frozen=True)
class JobKind:
    """A kind of job.

    ``run`` is called in the job's own process as ``run(context, job_context, spec)`` and returns
    the job's result (a JSON-able dict). ``report``, when the kind has one, is called as
    ``report(context, job, out=None, **options)`` for a Completed job and returns a
    :class:`kiln.reports.JobReport`. ``id_prefix`` starts the ids of its jobs (``train-…``).
    ``resume``, for a kind whose jobs can resume, is the command that does it, with ``{job}`` for
    the job's id; a job that ended before its time says it.
    """

    name: str
    run: str
    report: str | None = None
    id_prefix: str = ""
    # How a sentence names its jobs ("a training job", "an AutoML job").
    title: str = ""
    resume: str | None = None

    def run_function(self) -> Callable:
        return _resolve(self.run)

    def report_function(self) -> Callable | None:
        return _resolve(self.report) if self.report else None


_KINDS: dict[str, JobKind] = {}


def register_job_kind(
    name: str,
    *,
    run: str,
    report: str | None = None,
    id_prefix: str | None = None,
    title: str | None = None,
    resume: str | None = None,
) -> JobKind:
    """Add (or replace) a job kind; ``run`` and ``report`` are ``"module:function"`` strings,
    ``resume`` the command that resumes one of its jobs (``"kiln tune --resume {job}"``)."""
    for ref in (run, report):
        if ref is not None and ref.count(":") != 1:
            raise ConfigError(
                f"Job kind {name!r}: {ref!r} is not a 'module:function' reference.",
                code="compute.bad-job-kind",
            )
    kind = JobKind(
        name=name,
        run=run,
        report=report,
        id_prefix=id_prefix or name[:5],
        title=title or name,
        resume=resume,
    )
    _KINDS[name] = kind
    return kind


def job_kind(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(
            f"Unknown job kind {name!r}. Known kinds: {', '.join(sorted(_KINDS)) or 'none'} "
            "(kiln.context registers the built-in kinds; add one with "
            "kiln.compute.register_job_kind).",
            code="compute.unknown-job-kind",
        ) from None


def job_kinds() -> list[JobKind]:
    """The registered kinds, in the order they were registered."""
    return list(_KINDS.values())


def _resolve(ref: str) -> Callable:
    module_name, function_name = ref.split(":")
    return getattr(importlib.import_module(module_name), function_name)
