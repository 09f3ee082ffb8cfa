"""``Workspace``: the one entry point. It opens the stores and hands out the services."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.artifacts import ArtifactStore
from kiln.errors import WorkspaceNotFound
from kiln.settings import CONFIG_FILE, Settings, load_settings, resolve_home
from kiln.store import Store

if TYPE_CHECKING:
    from kiln.compute import JobService
    from kiln.data import DataCatalog
    from kiln.registry import ModelRegistry
    from kiln.serving import EndpointService
    from kiln.training import TrainingResult
    from kiln.training._experiments import ExperimentService

__all__ = ["Workspace"]

_CONFIG_TEMPLATE = """\
# kiln workspace settings.
# Environment variables (KILN_STORE_URL, KILN_ARTIFACTS_URL) override these.
[kiln]
# store_url = "postgresql://user@host/kiln"
# artifacts_url = "s3://bucket/prefix"
# Deploy only models whose approval status is Approved.
require_approval = false
# Largest invocation body the server accepts, in bytes.
max_request_bytes = 10485760
"""


class Workspace:
    """A kiln workspace: metadata store, artifact store and executor, with their services.

    Parameters
    ----------
    home
        The workspace folder. Defaults to ``$KILN_HOME``, else ``.kiln`` in the current directory.

    Examples
    --------
    >>> ws = kiln.Workspace.init("/tmp/demo")          # doctest: +SKIP
    >>> ws.data.ingest("churn.csv", name="churn")       # doctest: +SKIP
    """

    def __init__(self, home: str | os.PathLike | None = None, **overrides: Any):
        home_path = resolve_home(home)
        if not (home_path / CONFIG_FILE).exists():
            raise WorkspaceNotFound(
                f"No kiln workspace at {home_path}. Create one with 'kiln init' "
                "(or point KILN_HOME or --home at an existing workspace).",
            )
        self.settings: Settings = load_settings(home_path, **overrides)
        from kiln.recipe import set_pii_key

        set_pii_key(self.settings.pii_key)  # None too: never another workspace's key
        self.home = home_path
        self.store = Store(self.settings.store_url)
        self.store.upgrade()
        self.artifacts = ArtifactStore(self.settings.artifacts_url, cache_dir=home_path / "cache")

    @classmethod
    def init(cls, home: str | os.PathLike | None = None, **overrides: Any) -> Workspace:
        """Create the workspace (or open it, when it exists already)."""
        home_path = resolve_home(home)
        home_path.mkdir(parents=True, exist_ok=True)
        config = home_path / CONFIG_FILE
        if not config.exists():
            config.write_text(_CONFIG_TEMPLATE)
            (home_path / ".gitignore").write_text("*\n")
        return cls(home_path, **overrides)

    @classmethod
    def open_or_create(cls, home: str | os.PathLike | None = None) -> Workspace:
        """The workspace at ``home``; the default one is created when missing (for notebooks)."""
        try:
            return cls(home)
        except WorkspaceNotFound:
            return cls.init(home)

    def __repr__(self) -> str:
        return f"Workspace({str(self.home)!r})"

    def close(self) -> None:
        self.store.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def environment(self) -> dict[str, str]:
        """Environment variables that let a child process open this same workspace."""
        return {
            "KILN_HOME": str(self.home),
            "KILN_STORE_URL": self.settings.store_url,
            "KILN_ARTIFACTS_URL": self.settings.artifacts_url,
        }

    # -- services -------------------------------------------------------------------------------
    @cached_property
    def data(self) -> DataCatalog:
        from kiln.data import DataCatalog

        return DataCatalog(self)

    @cached_property
    def jobs(self) -> JobService:
        from kiln.compute import JobService

        return JobService(self)

    @cached_property
    def experiments(self) -> ExperimentService:
        from kiln.training._experiments import ExperimentService

        return ExperimentService(self)

    @cached_property
    def models(self) -> ModelRegistry:
        from kiln.registry import ModelRegistry

        return ModelRegistry(self)

    @cached_property
    def endpoints(self) -> EndpointService:
        from kiln.serving import EndpointService

        return EndpointService(self)

    # -- actions --------------------------------------------------------------------------------
    def train(
        self, data: str, *, algorithm: str, target: str | None = None, **options: Any
    ) -> TrainingResult:
        """Train a model as a job and register it; see :func:`kiln.training.train`."""
        from kiln.training import train

        return train(self, data, target=target, algorithm=algorithm, **options)

    def tune(self, data: str, *, target: str, algorithm: str, **options: Any):
        """Tune an algorithm's hyperparameters with training jobs as trials, and register the
        best model; see :func:`kiln.tuning.tune`."""
        from kiln.tuning import tune

        return tune(self, data, target=target, algorithm=algorithm, **options)

    def automl(self, data: str, *, target: str, time_limit: float, **options: Any):
        """Search algorithms, recipes and hyperparameters within ``time_limit`` seconds, and
        register the best model or ensemble; see :func:`kiln.automl.automl`."""
        from kiln.automl import automl

        return automl(self, data, target=target, time_limit=time_limit, **options)

    def transform(self, model: str, *, input: str | Path, output: str | Path, **options: Any):
        """Batch transform a file with a model; see :func:`kiln.serving.transform`."""
        from kiln.serving import transform

        return transform(self, model, input=input, output=output, **options)
