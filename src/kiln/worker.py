"""Entry point of a job's own process: ``python -m kiln.worker JOB_ID``.

It sits above compute because it opens the workspace's context (which registers the built-in
job kinds), then hands over to :func:`kiln.compute.run_job`.
"""

from __future__ import annotations

import sys

from kiln.compute import exit_process, run_job
from kiln.context import Context


def main(job_id: str) -> int:
    return run_job(Context(), job_id)


if __name__ == "__main__":
    exit_process(main(sys.argv[1]))
