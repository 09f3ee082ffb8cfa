"""``Workspace``: the one entry point. It opens the stores, hands out the record services
(through :class:`kiln.context.Context`) and owns the actions that cross layers."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.context import Context
from kiln.errors import ConfigError

if TYPE_CHECKING:
    from kiln.automl import AutoMLResult
    from kiln.clarify import ClarifyService
    from kiln.data import DatasetVersion
    from kiln.features import FeatureService
    from kiln.forecasting import ForecastAutoMLResult
    from kiln.labeling import LabelingService
    from kiln.monitoring import MonitoringService
    from kiln.pipelines import PipelineService
    from kiln.profile import DatasetProfile
    from kiln.recipe import RecipePreview
    from kiln.reports import JobReport
    from kiln.training import TrainingResult
    from kiln.tuning import TuningResult

__all__ = ["Workspace"]


class Workspace(Context):
    """A kiln workspace: metadata store, artifact store and executor, with their services
    (``ws.data``, ``ws.jobs``, ``ws.models``, ``ws.endpoints``, ``ws.experiments``,
    ``ws.keys``) and the
    lifecycle's actions (``ws.profile``, ``ws.preview``, ``ws.train``, ``ws.tune``,
    ``ws.automl``, ``ws.transform``, ``ws.report``).

    Parameters
    ----------
    home
        The workspace folder. Defaults to ``$KILN_HOME``, else ``.kiln`` in the current directory.

    Examples
    --------
    >>> ws = kiln.Workspace.init("/tmp/demo")          # doctest: +SKIP
    >>> ws.data.ingest("churn.csv", name="churn")       # doctest: +SKIP
    """

    # The actions import their packages when called: each loads heavy libraries (LightGBM,
    # Optuna, FastAPI, plotly) that `import kiln` and most CLI commands do not need.
    def profile(
        self,
        data: str | DatasetVersion,
        *,
        target: str | None = None,
        refresh: bool = False,
        **options: Any,
    ) -> DatasetProfile:
        """The profile of a data set version (statistics, warnings, plots, quick model), stored
        with it.

        Profiling the same version for the same target again returns the stored profile;
        ``refresh=True`` recomputes it. Options: ``sample_rows``, ``seed``, ``model``,
        ``progress``, and ``timeseries={"id": [...], "timestamp": "date", "target": "sales"}``
        to profile the series of a long table. See docs/profiling.md and docs/forecasting.md.
        """
        from kiln.profile import profile_version

        return profile_version(self, data, target=target, refresh=refresh, **options)

    def preview(
        self, data: str, recipe: Any, *, target: str | None = None, rows: int = 5
    ) -> RecipePreview:
        """Fit a recipe on data set ``data`` and show rows before and after; see
        :func:`kiln.recipe.preview`."""
        from kiln.recipe import preview

        return preview(self, data, recipe, target=target, rows=rows)

    def train(
        self,
        data: str | list[str],
        *,
        algorithm: str | None = None,
        script: str | os.PathLike | None = None,
        **options: Any,
    ) -> TrainingResult:
        """Train a model as a job and register it. ``options``: ``options=TrainingOptions(...)``
        or its fields (``target=``, ``validation=``, ...), and ``on_log``; see
        :func:`kiln.training.train`. ``algorithm`` is a built-in's name or a custom estimator's
        import path (``pkg.module:Class``). With ``script`` instead, a training script runs on
        ``data`` (one data set or a list; options ``target``, ``name``, ``params``, ``on_log``);
        see :func:`kiln.training.train_script` and docs/custom-code.md.

        ``problem_type="forecasting"`` trains a forecaster instead (``timestamp=``, ``id=``,
        ``horizon=``, ``quantiles=``, ``backtests=``, ...; ``algorithm`` defaults to
        ``kiln.forecasting.DEFAULT_ALGORITHM``); see :func:`kiln.forecasting.train_forecasting`
        and docs/forecasting.md."""
        from kiln.forecasting import check_not_forecasting, train_forecasting
        from kiln.problems import FORECASTING
        from kiln.training import train, train_script

        given = options.get("options")
        if options.get("problem") and options.get("problem_type") is None and given is None:
            problem = self.problems.get(options["problem"])
            if problem.problem_type == FORECASTING:  # the problem says what it is
                options = {"problem_type": FORECASTING, "target": problem.target, **options}
        if options.get("problem_type") == FORECASTING or (
            given is not None and getattr(given, "problem_type", None) == FORECASTING
        ):
            if script is not None:
                raise ConfigError(
                    "A forecaster is trained with algorithm=, not a training script.",
                    code="forecast.bad-option",
                    field="script",
                )
            return train_forecasting(self, data, algorithm=algorithm, **options)
        check_not_forecasting(options)
        if (algorithm is None) == (script is None):
            raise ConfigError(
                "Give algorithm= (a built-in or 'pkg.module:Class') or script= (a training "
                "script), one of them.",
                code="training.algorithm-or-script",
            )
        if script is not None:
            unused = sorted(set(options) - {"target", "name", "params", "on_log"})
            if unused:
                raise ConfigError(
                    f"{', '.join(unused)}: not options of a training script, which splits, "
                    "preprocesses and fits by itself. It takes target=, name=, params= and "
                    "on_log=; give the others with algorithm= instead.",
                    code="script.bad-option",
                )
            return train_script(self, script, data=data, **options)
        return train(self, data, algorithm=algorithm, **options)

    def tune(
        self, data: str, *, algorithm: str, target: str | None = None, **options: Any
    ) -> TuningResult:
        """Tune an algorithm's hyperparameters with training jobs as trials, and register the
        best model; see :func:`kiln.tuning.tune`."""
        from kiln.tuning import tune

        return tune(self, data, target=target, algorithm=algorithm, **options)

    def automl(
        self, data: str, *, time_limit: float, target: str | None = None, **options: Any
    ) -> AutoMLResult | ForecastAutoMLResult:
        """Search algorithms, recipes and hyperparameters within ``time_limit`` seconds, and
        register the best model or ensemble; see :func:`kiln.automl.automl`. With
        ``problem_type="forecasting"`` it searches forecasters instead (``timestamp=``,
        ``id=``, ``horizon=`` and the other forecasting options); see
        :func:`kiln.forecasting.forecast_automl` and docs/forecasting.md."""
        if options.get("problem") and options.get("problem_type") is None:
            problem = self.problems.get(options["problem"])
            if problem.problem_type == "forecasting":  # the problem says what it is
                options = {**options, "problem_type": "forecasting"}
                target = target or problem.target
        if options.get("problem_type") == "forecasting":
            from kiln.forecasting import forecast_automl, forecast_spec_from_options

            spec, rest = forecast_spec_from_options(target, options)
            return forecast_automl(self, data, spec, time_limit=time_limit, **rest)
        from kiln.automl import automl
        from kiln.forecasting import check_not_forecasting

        check_not_forecasting(options)

        return automl(self, data, target=target, time_limit=time_limit, **options)

    @cached_property
    def clarify(self) -> ClarifyService:
        """Bias metrics and explanations (``ws.clarify.bias``, ``ws.clarify.explain``); see
        docs/clarify.md."""
        from kiln.clarify import ClarifyService

        return ClarifyService(self)

    def transform(
        self, model: str, *, input: str | Path | None = None, output: str | Path, **options: Any
    ):
        """Batch transform a file with a model (a forecasting model: every series when there is
        no ``input``); see :func:`kiln.serving.transform`."""
        from kiln.serving import transform

        return transform(self, model, input=input, output=output, **options)

    def compile(self, model: str, *, target: str | None = None, **options: Any) -> dict:
        """Compile a model version for faster serving and batch transform, gated by parity
        with its pipeline; see :func:`kiln.compiler.compile_model` and docs/compile.md."""
        from kiln.compiler import compile_model

        return compile_model(self, model, target, **options)

    @cached_property
    def monitoring(self) -> MonitoringService:
        """Baselines, monitors, alarms, schedules and retraining; see docs/monitoring.md."""
        from kiln.monitoring import MonitoringService

        return MonitoringService(self)

    @cached_property
    def labeling(self) -> LabelingService:
        """Labelling jobs, annotators' answers, consolidation and automated labelling; see
        docs/labeling.md."""
        from kiln.labeling import LabelingService

        return LabelingService(self)

    @cached_property
    def pipelines(self) -> PipelineService:
        """Pipelines: DAGs of steps run as cached, resumable executions; see docs/pipelines.md."""
        from kiln.pipelines import PipelineService

        return PipelineService(self)

    @cached_property
    def features(self) -> FeatureService:
        """The feature store: feature groups, online and offline, and point-in-time training
        sets; see docs/features.md."""
        from kiln.features import FeatureService

        return FeatureService(self)

    def report(self, job_id: str, *, out: str | Path | None = None, **options: Any) -> JobReport:
        """Write the HTML report of a completed training, tuning or AutoML job; see
        :func:`kiln.evaluation.training_report` for the options of a training job's report."""
        return self.jobs.report(job_id, out=out, **options)
