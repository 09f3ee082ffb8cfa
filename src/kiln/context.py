"""``Context``: an open workspace's stores and record services, what services and jobs take.

The layers run, from the bottom: errors, refs, settings → store, artifacts → compute → record
services (data sets, jobs, models, experiments, endpoints, API keys) → this context → stage
libraries → actions → the :class:`kiln.Workspace` facade → CLI and HTTP. A job's function, a
service and the HTTP app take a ``Context``; only the facade owns the actions that cross layers
(train, tune, ...).
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

from kiln.artifacts import ArtifactStore
from kiln.compute import JobService, register_job_kind
from kiln.data import DataCatalog
from kiln.endpoints import EndpointService
from kiln.errors import ConfigError, WorkspaceNotFound
from kiln.experiments import ExperimentService
from kiln.keys import KeyService
from kiln.lineage import LineageService
from kiln.problems import ProblemService
from kiln.registry import ModelRegistry
from kiln.settings import CONFIG_FILE, Settings, load_settings, resolve_home, set_pii_key
from kiln.store import Store
from kiln.users import AuditLog, UserService

__all__ = ["Context"]

_CONFIG_TEMPLATE = """\
# kiln workspace settings.
# Environment variables (KILN_STORE_URL, KILN_ARTIFACTS_URL) override these.
[kiln]
# store_url = "postgresql://user@host/kiln"
# artifacts_url = "s3://bucket/prefix"
# Deploy only models whose approval status is Approved (false: deploy PendingManualApproval
# models too, recorded in each endpoint's history; Rejected and Archived never deploy).
require_approval = true
# Largest invocation body the server accepts, in bytes.
max_request_bytes = 10485760
# A job's process writes a heartbeat this often; a job whose process is on another host and has
# written none for job_lost_after_seconds is marked lost (Failed, job.lost).
# job_heartbeat_seconds = 5
# job_lost_after_seconds = 30
"""


# The built-in job kinds: what runs in a job's process and what writes its report. They are named
# as strings, not imported: a job's process imports its own kind's package only, and the
# context stays below the actions it names (see kiln.compute).
register_job_kind(
    "training",
    run="kiln.training:run_training_job",
    report="kiln.evaluation:training_report",
    id_prefix="train",
)
register_job_kind(
    "tuning",
    run="kiln.tuning:run_tuning_job",
    report="kiln.tuning:tuning_report",
    id_prefix="tune",
    resume="kiln tune --resume {job}",
)
register_job_kind(
    "automl",
    run="kiln.automl:run_automl_job",
    report="kiln.automl:automl_report",
    id_prefix="automl",
    title="AutoML",
)
register_job_kind(
    "forecasting",
    run="kiln.forecasting:run_forecasting_job",
    report="kiln.forecasting:forecast_report",
    id_prefix="fcst",
    title="forecasting",
)
register_job_kind("transform", run="kiln.serving:run_transform_job", id_prefix="trans")
register_job_kind(
    "script",
    run="kiln.training:run_script_job",
    report="kiln.training:script_report",
    id_prefix="script",
    title="training script",
)
register_job_kind(
    "deployment",
    run="kiln.endpoints._rollout:run_deployment_job",
    id_prefix="deploy",
    title="deployment",
)
register_job_kind("monitor", run="kiln.monitoring:run_monitor_job", id_prefix="mon")
register_job_kind("retraining", run="kiln.monitoring:run_retraining_job", id_prefix="retrain")
register_job_kind(
    "pipeline",
    run="kiln.pipelines:run_pipeline_job",
    id_prefix="pipe",
    title="pipeline",
    resume="kiln pipelines resume {job}",
)


class Context:
    """An open workspace: settings, metadata store, artifact store and the record services.

    Parameters
    ----------
    home
        The workspace folder. Defaults to ``$KILN_HOME``, else ``.kiln`` in the current directory.
    """

    def __init__(self, home: str | os.PathLike | None = None, **overrides: Any):
        home_path = resolve_home(home)
        if not (home_path / CONFIG_FILE).exists():
            raise WorkspaceNotFound(
                f"No kiln workspace at {home_path}. Create one with 'kiln init' "
                "(or point KILN_HOME or --home at an existing workspace).",
            )
        self.settings: Settings = load_settings(home_path, **overrides)
        set_pii_key(self.settings.pii_key)
        self.home = home_path
        self.store = Store(self.settings.store_url)
        self.store.upgrade()
        self.artifacts = ArtifactStore(self.settings.artifacts_url, cache_dir=home_path / "cache")

    @classmethod
    def init(cls, home: str | os.PathLike | None = None, **overrides: Any):
        """Create the workspace (or open it, when it exists already)."""
        home_path = resolve_home(home)
        home_path.mkdir(parents=True, exist_ok=True)
        config = home_path / CONFIG_FILE
        if not config.exists():
            config.write_text(_CONFIG_TEMPLATE)
            (home_path / ".gitignore").write_text("*\n")
        return cls(home_path, **overrides)

    @classmethod
    def open_or_create(cls, home: str | os.PathLike | None = None):
        """The workspace at ``home``; the default one is created when missing (for notebooks)."""
        try:
            return cls(home)
        except WorkspaceNotFound:
            return cls.init(home)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.home)!r})"

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def environment(self) -> dict[str, str]:
        """Environment variables that let a child process open this same workspace."""
        environment = {
            "KILN_HOME": str(self.home),
            "KILN_STORE_URL": self.settings.store_url,
            "KILN_ARTIFACTS_URL": self.settings.artifacts_url,
            "KILN_EXECUTOR": self.settings.executor,
        }
        if self.settings.ray_address:
            environment["KILN_RAY_ADDRESS"] = self.settings.ray_address
        return environment

    def collect_garbage(self, *, delete: bool = False, min_age_seconds: float = 3600) -> dict:
        """Find (and with ``delete``, remove) artifact files no record refers to.

        Files younger than ``min_age_seconds`` are kept: a running job stores its model before
        it records it. Returns what was found: each file's key, size and age, and the totals.
        """
        import time

        if min_age_seconds < 0:
            raise ConfigError(
                f"min_age_seconds must be 0 or more. Got {min_age_seconds}.", code="gc.bad-age"
            )
        referenced = self.store.referenced_digests()
        clock = time.time()
        unreferenced, young, kept = [], 0, 0
        for stored in self.artifacts.stored():
            if stored.digest is not None and stored.digest in referenced:
                kept += 1
            elif clock - stored.modified < min_age_seconds:
                young += 1
            else:
                unreferenced.append(stored)
        if delete:
            for stored in unreferenced:
                self.artifacts.remove(stored.key)
        return {
            "deleted": delete,
            "files": [
                {
                    "key": f.key,
                    "digest": f.digest,
                    "bytes": f.size,
                    "age_seconds": round(clock - f.modified),
                }
                for f in unreferenced
            ],
            "bytes": sum(f.size for f in unreferenced),
            "kept": kept,
            "too_young": young,
        }

    # -- record services ------------------------------------------------------------------------
    @cached_property
    def data(self) -> DataCatalog:
        return DataCatalog(self)

    @cached_property
    def jobs(self) -> JobService:
        return JobService(self)

    @cached_property
    def experiments(self) -> ExperimentService:
        return ExperimentService(self)

    @cached_property
    def models(self) -> ModelRegistry:
        return ModelRegistry(self)

    @cached_property
    def endpoints(self) -> EndpointService:
        return EndpointService(self)

    @cached_property
    def keys(self) -> KeyService:
        return KeyService(self)

    @cached_property
    def users(self) -> UserService:
        """Studio's users, roles, tokens and sessions (docs/studio.md)."""
        return UserService(self)

    @cached_property
    def audit(self) -> AuditLog:
        """The audit log of changes made through Studio (docs/studio.md)."""
        return AuditLog(self)

    @cached_property
    def lineage(self) -> LineageService:
        return LineageService(self)

    @cached_property
    def problems(self) -> ProblemService:
        """Versioned problem specs: goal, target, success criteria, owner (docs/problems.md)."""
        return ProblemService(self)
