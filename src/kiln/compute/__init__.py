"""Jobs and the executors that run them."""

from kiln.compute._jobs import FINAL_STATUSES, Job, JobContext, JobService
from kiln.compute._local import LocalExecutor

__all__ = ["FINAL_STATUSES", "Job", "JobContext", "JobService", "LocalExecutor"]
