"""Jobs, job kinds and the executors that run them."""

from kiln.compute._executor import EXECUTORS, executor_for, run_in_background
from kiln.compute._jobs import (
    COMPLETED,
    FAILED,
    FINAL_STATUSES,
    PENDING,
    Job,
    JobContext,
    JobService,
    JobSummary,
    LogPage,
)
from kiln.compute._kinds import JobKind, job_kind, job_kinds, register_job_kind
from kiln.compute._local import LocalExecutor, forward_logs, serving_thread_environment
from kiln.compute._worker import exit_process, run_job

__all__ = [
    "COMPLETED",
    "EXECUTORS",
    "FAILED",
    "FINAL_STATUSES",
    "PENDING",
    "Job",
    "JobContext",
    "JobKind",
    "JobService",
    "JobSummary",
    "LogPage",
    "LocalExecutor",
    "executor_for",
    "exit_process",
    "forward_logs",
    "job_kind",
    "job_kinds",
    "register_job_kind",
    "run_in_background",
    "run_job",
    "serving_thread_environment",
]
