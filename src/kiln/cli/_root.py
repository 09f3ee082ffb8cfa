"""The ``kiln`` command: workspace, training, deployment and serving commands."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli import _alarms as _alarms_cli
from kiln.cli import _async as _async_cli  # noqa: F401 - adds kiln endpoints async-*
from kiln.cli import _clarify, _data, _endpoints, _experiments, _jobs, _keys, _models, _monitor
from kiln.cli import _features as _features_cli
from kiln.cli import _label as _label_cli
from kiln.cli import _pipelines as _pipelines_cli
from kiln.cli import _problems as _problems_cli
from kiln.cli import _scaling as _scaling_cli  # noqa: F401 - kiln endpoints serverless, ...
from kiln.cli import _scheduler as _scheduler_cli
from kiln.cli import _users as _users_cli
from kiln.cli._common import (
    App,
    JsonOption,
    automl_progress,
    console,
    err_console,
    job_progress,
    metrics_table,
    parse_key_values,
    parse_ratios,
    parse_share,
    print_json,
    table,
    transform_progress,
    workspace,
)
from kiln.cli._compile import compile_command as _compile_command
from kiln.cli._forecasting import (
    BacktestsOption,
    CovariatesOption,
    FillOption,
    FrequencyOption,
    HorizonOption,
    IdOption,
    QuantilesOption,
    SeasonLengthOption,
    ShortSeriesOption,
    StaticOption,
    TimestampOption,
    print_forecast_automl,
)
from kiln.cli._lineage import lineage as _lineage_command
from kiln.cli._script import train_with_script

# Exit statuses beyond 0 (done), 1 (a bug) and 2 (a KilnError): the table in docs/cli.md.
CRITERIA_NOT_MET = 3

ProblemOption = typer.Option(
    None,
    "--problem",
    help="A problem spec (NAME or NAME:VERSION): the target defaults from it and the model is "
    "checked against its criteria.",
)

app = App(
    name="kiln",
    help="kiln: a self-hosted ML platform — data lake, training, registry, endpoints, "
    "batch transform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(_data.app, name="data")
app.add_typer(_jobs.app, name="jobs")
app.add_typer(_models.app, name="models")
app.add_typer(_models.algorithms_app, name="algorithms")
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_endpoints.app, name="endpoints")
app.add_typer(_keys.app, name="keys")
app.add_typer(_users_cli.app, name="users")
app.command("ui")(_users_cli.ui)
app.add_typer(_monitor.app, name="monitor")
app.add_typer(_alarms_cli.app, name="alarms")
app.add_typer(_scheduler_cli.app, name="scheduler")
app.add_typer(_clarify.app, name="clarify")
app.command("lineage")(_lineage_command)
app.command("compile")(_compile_command)
app.add_typer(_problems_cli.app, name="problem")
app.add_typer(_pipelines_cli.app, name="pipelines")
app.add_typer(_features_cli.app, name="features")
app.add_typer(_label_cli.app, name="label")


def _version(value: bool) -> None:
    if value:
        from kiln import __version__

        print(f"kiln {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Path = typer.Option(
        None, "--home", envvar="KILN_HOME", help="The workspace folder (default: ./.kiln)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    ctx.obj = {"home": home}


@app.command()
def init(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Create a workspace (.kiln/ here, or --home / $KILN_HOME)."""
    from kiln.workspace import Workspace

    ws = Workspace.init(ctx.obj["home"])
    if as_json:
        print_json(
            {
                "home": str(ws.home),
                "store_url": ws.store.shown_url,  # without its password
                "artifacts_url": ws.settings.artifacts_url,
            }
        )
        return
    console.print(f"Workspace ready at [bold]{ws.home}[/]. Next: kiln data ingest FILE --name NAME")


@app.command()
def train(
    ctx: typer.Context,
    data: list[str] = typer.Option(
        ..., "--data", help="Data set: NAME or NAME:VERSION (repeatable with --script)."
    ),
    target: str = typer.Option(
        None,
        "--target",
        help="The column to predict (for unsupervised algorithms: optional labels).",
    ),
    algorithm: str = typer.Option(
        None,
        "--algorithm",
        help="See 'kiln algorithms list', or a scikit-learn-compatible class: pkg.module:Class.",
    ),
    script: Path = typer.Option(
        None, "--script", help="A training script defining train(run), instead of --algorithm."
    ),
    hp: list[str] = typer.Option(None, "--hp", help="Hyperparameter key=value (repeatable)."),
    name: str = typer.Option(None, "--name", help="Model group (default: the data set name)."),
    problem_type: str = typer.Option(
        None,
        "--problem-type",
        help="binary, multiclass, regression (default: inferred) or forecasting.",
    ),
    ratios: str = typer.Option("0.7,0.1,0.2", "--ratios", help="train,validation,test shares."),
    time_column: str = typer.Option(
        None, "--time-column", help="Split (and timeseries-validate) in time order by this column."
    ),
    validation: str = typer.Option(
        "holdout",
        "--validation",
        help="holdout, kfold:K, stratified_kfold:K, repeated_kfold:KxR, "
        "repeated_stratified_kfold:KxR, loocv, timeseries:K or group_kfold:K.",
    ),
    group_column: str = typer.Option(None, "--group-column", help="Groups for group_kfold."),
    require: list[str] = typer.Option(
        None, "--require", help='Success criterion, e.g. "roc_auc>=0.85" (repeatable).'
    ),
    cost_fp: float = typer.Option(None, "--cost-fp", help="Cost of a false positive (binary)."),
    cost_fn: float = typer.Option(None, "--cost-fn", help="Cost of a false negative (binary)."),
    experiment: str = typer.Option(None, "--experiment", help="Group the run in an experiment."),
    seed: int = typer.Option(42, "--seed"),
    recipe: Path = typer.Option(
        None, "--recipe", help="Feature-engineering recipe (YAML) instead of the default one."
    ),
    problem: str = ProblemOption,
    series_id: list[str] = typer.Option(
        None, "--id", help="Forecasting: the series id column(s) (repeatable, or a,b)."
    ),
    timestamp: str = typer.Option(None, "--timestamp", help="Forecasting: the time column."),
    horizon: int = typer.Option(None, "--horizon", help="Forecasting: steps to forecast."),
    frequency: str = typer.Option(
        None, "--frequency", help="Forecasting: D, W, MS, h, ... (default: inferred)."
    ),
    quantiles: str = typer.Option(
        None, "--quantiles", help="Forecasting: quantiles, e.g. 0.1,0.5,0.9 (the default)."
    ),
    covariates: str = typer.Option(
        None, "--covariates", help="Forecasting: known-in-advance covariate columns (a,b)."
    ),
    static: str = typer.Option(
        None, "--static", help="Forecasting: static attribute columns, one value per series."
    ),
    fill: str = typer.Option(
        None,
        "--fill",
        help="Forecasting: fill gaps by none (refuse; the default), zero, ffill or interpolate.",
    ),  # fmt: skip
    season_length: int = typer.Option(
        None, "--season-length", help="Forecasting: steps per season (default: by frequency)."
    ),
    backtests: int = typer.Option(
        None, "--backtests", help="Forecasting: rolling-origin backtest windows (default 3)."
    ),
    short_series: str = typer.Option(
        None, "--short-series", help="Forecasting: baseline (the default) or drop."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Train a model (or, with --problem-type forecasting, a forecaster) as a job, evaluate it
    and register it."""
    from kiln.training import TrainingOptions

    ws = workspace(ctx)
    forecasting = {
        "id": _names(series_id),
        "timestamp": timestamp,
        "horizon": horizon,
        "frequency": frequency,
        "quantiles": _numbers(quantiles, option="--quantiles"),
        "covariates": _names(covariates and [covariates]),
        "static": _names(static and [static]),
        "fill": fill,
        "season_length": season_length,
        "backtests": backtests,
        "short_series": short_series,
    }
    forecasting = {k: v for k, v in forecasting.items() if v is not None}
    if problem_type == "forecasting":
        # Options of ordinary training given away from their defaults go on, for the SDK to
        # refuse by name.
        given = {
            "ratios": parse_ratios(ratios) if ratios != "0.7,0.1,0.2" else None,
            "validation": validation if validation != "holdout" else None,
            "time_column": time_column,
            "group_column": group_column,
            "cost_fp": cost_fp,
            "cost_fn": cost_fn,
            "recipe": recipe,
        }
        return _train_forecaster(
            ws,
            data,
            algorithm=algorithm,
            script=script,
            as_json=as_json,
            target=target,
            hyperparameters=_literals(parse_key_values(hp, option="--hp")),
            name=name,
            require=require,
            experiment=experiment,
            seed=seed,
            problem=problem,
            **forecasting,
            **{k: v for k, v in given.items() if v is not None},
        )
    if forecasting:
        from kiln.forecasting import check_not_forecasting

        check_not_forecasting(forecasting)
    if script is not None or algorithm is None:
        return train_with_script(
            ctx, ws, script, algorithm=algorithm, data=data, target=target, name=name, hp=hp,
            as_json=as_json,
        )  # fmt: skip
    if len(data) != 1:
        raise typer.BadParameter("--algorithm trains on one --data; several are for --script.")
    data = data[0]
    with job_progress(f"Training {algorithm} on {data}", quiet=as_json) as on_log:
        options = TrainingOptions(
            target=target,
            hyperparameters=parse_key_values(hp, option="--hp"),
            name=name,
            problem_type=problem_type,
            ratios=parse_ratios(ratios),
            time_column=time_column,
            validation=validation,
            group_column=group_column,
            require=require,
            cost_fp=cost_fp,
            cost_fn=cost_fn,
            experiment=experiment,
            seed=seed,
            recipe=recipe,
            problem=problem,
        )
        result = ws.train(data, algorithm=algorithm, options=options, on_log=on_log)
    failed = any(not check["passed"] for check in result.criteria)
    if as_json:
        print_json(result.to_dict())
        if failed:
            raise typer.Exit(CRITERIA_NOT_MET)
        return
    shown = {
        k: v for k, v in result.metrics.items() if k in ("cv_mean", "cv_std", "validation", "test")
    }
    metrics_table(shown, title=f"Metrics of {result.model.ref}")
    if result.job.result.get("threshold") is not None:
        console.print(f"Decision threshold: {result.job.result['threshold']:.2f} (chosen by cost).")
    _print_criteria(result.criteria, result.job.result.get("problem"))
    console.print(
        f"Job [bold]{result.job.id}[/] completed in {result.job.duration_seconds:.1f}s; registered "
        f"model [bold]{result.model.ref}[/] ({result.model.approval_status})."
    )
    if failed:
        err_console.print(
            f"Success criteria not met: {result.model.ref} is Rejected (exit status "
            f"{CRITERIA_NOT_MET})."
        )
        raise typer.Exit(CRITERIA_NOT_MET)


def _names(items: list[str] | None) -> list[str] | None:
    """Column names from repeated and comma-separated options (``--id a --id b``, ``--id a,b``)."""
    if not items:
        return None
    return [name.strip() for item in items for name in item.split(",") if name.strip()]


def _numbers(text: str | None, *, option: str) -> list[float] | None:
    from kiln.errors import ConfigError

    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(
            f"{option} takes numbers separated by commas, e.g. 0.1,0.5,0.9. Got {text!r}.",
            code="cli.bad-option",
        ) from None


def _literals(values: dict[str, str]) -> dict:
    """``--hp`` values as JSON where they parse (numbers, true, lists), else as text: a
    forecaster's hyperparameters have no declared types to convert them by."""
    import json

    out = {}
    for key, value in values.items():
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _train_forecaster(ws, data: list[str], *, algorithm, script, as_json: bool, **options) -> None:
    """``kiln train --problem-type forecasting``: the backtest's metrics and the model."""
    from kiln.forecasting import DEFAULT_ALGORITHM

    if len(data) != 1:
        raise typer.BadParameter("A forecaster trains on one --data.")
    options = {k: v for k, v in options.items() if v not in (None, {}, [])}
    if script is not None:
        options["script"] = script  # for ws.train to refuse with its reason
    title = f"Forecasting with {algorithm or DEFAULT_ALGORITHM} on {data[0]}"
    with job_progress(title, quiet=as_json) as on_log:
        result = ws.train(
            data[0], algorithm=algorithm, problem_type="forecasting", on_log=on_log, **options
        )
    series = result.job.result.get("series") or {}
    failed = any(not check["passed"] for check in result.criteria)
    if as_json:
        print_json(result.to_dict() | {"series": series})
        if failed:
            raise typer.Exit(CRITERIA_NOT_MET)
        return
    backtest = result.job.result["backtest"]
    metrics_table({"backtest": result.metrics["backtest"]}, title=f"Backtest of {result.model.ref}")
    console.print(
        f"{backtest['windows']} backtest window(s); {series.get('series')} series, frequency "
        f"{series.get('frequency')!r}, season {series.get('season_length')} steps."
    )
    if series.get("dropped"):
        err_console.print(
            f"Warning: dropped {len(series['dropped'])} short series: "
            f"{', '.join(map(str, series['dropped'][:10]))}."
        )
    elif series.get("short"):
        console.print(
            f"{len(series['short'])} series shorter than the horizon plus a season, forecast "
            "by a baseline: "
            f"{', '.join(map(str, series['short'][:10]))}."
        )
    _print_criteria(result.criteria, result.job.result.get("problem"))
    console.print(
        f"Job [bold]{result.job.id}[/] completed in {result.job.duration_seconds:.1f}s; registered "
        f"model [bold]{result.model.ref}[/] ({result.model.approval_status}). Report: kiln jobs "
        f"report {result.job.id}"
    )
    if failed:
        err_console.print(
            f"Success criteria not met: {result.model.ref} is Rejected (exit status "
            f"{CRITERIA_NOT_MET})."
        )
        raise typer.Exit(CRITERIA_NOT_MET)


def _print_criteria(results: list[dict], problem: str | None) -> None:
    """The success criteria a model was checked against, with values and pass/FAIL."""
    from kiln.cli._problems import CRITERIA_COLUMNS, criteria_rows

    if results:
        title = "Success criteria" + (f" (problem {problem})" if problem else "")
        table(title, CRITERIA_COLUMNS, criteria_rows(results))


@app.command()
def tune(
    ctx: typer.Context,
    data: str = typer.Option(None, "--data", help="Data set: NAME or NAME:VERSION."),
    target: str = typer.Option(None, "--target", help="The column to predict."),
    algorithm: str = typer.Option(None, "--algorithm", help="See 'kiln algorithms list'."),
    objective: str = typer.Option(
        None,
        "--objective",
        help="Metric to optimise (default: roc_auc, log_loss or rmse by problem type).",
    ),
    direction: str = typer.Option(None, "--direction", help="maximize or minimize."),
    strategy: str = typer.Option(
        "tpe", "--strategy", help="grid, random, bayesian, tpe, hyperband."
    ),
    max_jobs: int = typer.Option(20, "--max-jobs", help="Trials (training jobs) in all."),
    max_parallel_jobs: int = typer.Option(1, "--max-parallel-jobs", help="Trials at once."),
    ranges: list[str] = typer.Option(
        None,
        "--range",
        help="name=low:high[:log|:reverse_log] or "
        "name=a,b,c (repeatable; default: the algorithm's).",
    ),
    hp: list[str] = typer.Option(None, "--hp", help="Fixed hyperparameter key=value."),
    warm_start: str = typer.Option(None, "--warm-start", help="Seed with a tuning job's trials."),
    early_stopping: str = typer.Option(
        "off", "--early-stopping", help="auto: stop trials worse than the median at an iteration."
    ),
    validation: str = typer.Option("holdout", "--validation", help="As for kiln train."),
    recipe: Path = typer.Option(None, "--recipe", help="Feature-engineering recipe (YAML)."),
    resume_job: str = typer.Option(
        None, "--resume", help="Resume an interrupted tuning job (its id, or a unique prefix)."
    ),
    seed: int = typer.Option(42, "--seed"),
    problem: str = ProblemOption,
    as_json: bool = JsonOption,
) -> None:
    """Tune an algorithm's hyperparameters: each trial is a training job; the best is registered."""
    from kiln.errors import ConfigError
    from kiln.tuning import resume
    from kiln.tuning import tune as run_tune

    ws = workspace(ctx)
    with job_progress("Tuning", quiet=as_json) as on_log:
        if resume_job:
            result = resume(ws, resume_job, on_log=on_log)
        else:
            missing = [
                o
                for o, v in (
                    ("--data", data),
                    ("--target", target or problem),
                    ("--algorithm", algorithm),
                )
                if v is None
            ]
            if missing:
                raise ConfigError(
                    f"kiln tune needs {', '.join(missing)} (--problem gives the target; or "
                    "--resume JOB_ID).",
                    code="cli.bad-option",
                )
            result = run_tune(
                ws,
                data,
                target=target,
                algorithm=algorithm,
                objective=objective,
                direction=direction,
                strategy=strategy,
                max_jobs=max_jobs,
                max_parallel_jobs=max_parallel_jobs,
                ranges=ranges or None,
                hyperparameters=parse_key_values(hp, option="--hp"),
                warm_start=warm_start,
                early_stopping=early_stopping,
                validation=validation,
                recipe=recipe,
                seed=seed,
                on_log=on_log,
                **({"problem": problem} if problem else {}),
            )
    if as_json:
        print_json(result.to_dict())
        return
    best = result.best
    console.print(
        f"Tuning job [bold]{result.job.id}[/]: best trial {best['trial']} (job {best['job']}) "
        f"with {result.job.result['objective']} = {best['value']}; registered "
        f"[bold]{best['model']}[/]."
    )
    _print_criteria(result.job.result.get("criteria") or [], result.job.result.get("problem"))


@app.command()
def automl(
    ctx: typer.Context,
    data: str = typer.Option(..., "--data", help="Data set: NAME or NAME:VERSION."),
    target: str = typer.Option(
        None, "--target", help="The column to predict (default: the --problem's target)."
    ),
    time_limit: float = typer.Option(
        ..., "--time-limit", help="Seconds for the whole run, search to registered model (>= 10)."
    ),
    metric: str = typer.Option(
        None, "--metric", help="Metric to optimise (default: roc_auc, log_loss, rmse or wql)."
    ),
    problem_type: str = typer.Option(
        None,
        "--problem-type",
        help="binary, multiclass, regression (default: inferred) or forecasting.",
    ),
    name: str = typer.Option(None, "--name", help="Model group (default: the data set name)."),
    algorithms: str = typer.Option(
        None, "--algorithms", help="Comma-separated candidates (default: all that fit the problem)."
    ),
    test_size: float = typer.Option(
        None,
        "--test-size",
        help="Share of rows held out before the search to score the final model on (e.g. 0.2).",
    ),
    test_data: str = typer.Option(
        None, "--test-data", help="Data set to score the final model on instead of --test-size."
    ),
    seed: int = typer.Option(42, "--seed"),
    problem: str = ProblemOption,
    id_columns: list[str] = IdOption,
    timestamp: str = TimestampOption,
    horizon: int = HorizonOption,
    frequency: str = FrequencyOption,
    quantiles: str = QuantilesOption,
    covariates: str = CovariatesOption,
    static: str = StaticOption,
    fill: str = FillOption,
    season_length: int = SeasonLengthOption,
    backtests: int = BacktestsOption,
    short_series: str = ShortSeriesOption,
    require: list[str] = typer.Option(
        None, "--require", help='Forecasting: success criterion, e.g. "mase<1" (repeatable).'
    ),
    as_json: bool = JsonOption,
) -> None:
    """AutoML: search, ensemble and register the best model within a time limit.

    Searches algorithms, recipes and hyperparameters, ensembles the best and registers the
    model. With --problem-type forecasting it searches forecasters scored by backtests (see
    docs/forecasting.md)."""
    from kiln.automl import automl as run_automl

    ws = workspace(ctx)
    forecasting = {
        "id": _names(id_columns),
        "timestamp": timestamp,
        "horizon": horizon,
        "frequency": frequency,
        "quantiles": _numbers(quantiles, option="--quantiles"),
        "covariates": _names(covariates and [covariates]),
        "static": _names(static and [static]),
        "fill": fill,
        "season_length": season_length,
        "backtests": backtests,
        "short_series": short_series,
    }
    forecasting = {k: v for k, v in forecasting.items() if v is not None}
    if problem_type != "forecasting":
        from kiln.forecasting import check_not_forecasting

        check_not_forecasting(forecasting)
        if require:
            raise typer.BadParameter(
                "--require applies to forecasting AutoML; tabular AutoML checks the criteria of "
                "its --problem."
            )
    if problem_type == "forecasting":
        with automl_progress(time_limit, quiet=as_json) as on_log:
            result = ws.automl(
                data, time_limit=time_limit, target=target, problem_type=problem_type,
                metric=metric or "wql", name=name, seed=seed, require=require, problem=problem,
                candidates=[a.strip() for a in algorithms.split(",")] if algorithms else None,
                on_log=on_log, **forecasting,
                # given on for the SDK to refuse by name (a forecaster is scored by backtests)
                **{k: v for k, v in (("test_size", test_size), ("test_data", test_data)) if v},
            )  # fmt: skip
        failed = any(not check["passed"] for check in result.criteria)
        if as_json:
            print_json(result.to_dict())
        else:
            print_forecast_automl(result)
            _print_criteria(result.criteria, result.job.result.get("problem"))
        if failed:
            raise typer.Exit(CRITERIA_NOT_MET)
        return
    with automl_progress(time_limit, quiet=as_json) as on_log:
        result = run_automl(
            ws,
            data,
            target=target,
            time_limit=time_limit,
            metric=metric,
            problem_type=problem_type,
            name=name,
            algorithms=[a.strip() for a in algorithms.split(",")] if algorithms else None,
            test_size=test_size,
            test_data=test_data,
            seed=seed,
            on_log=on_log,
            problem=problem,
        )
    if as_json:
        print_json(result.to_dict())
        return
    _print_automl(result)
    _print_criteria(result.job.result.get("criteria") or [], result.job.spec.get("problem"))


def _print_automl(result) -> None:
    """The leaderboard of the candidates that ran (trial, algorithm, out-of-fold score,
    hyperparameters) and the model's scores, each named by its source."""
    from kiln.automl import calibration_line, floor_line, recipe_label
    from kiln.reports import format_value

    summary = result.to_dict()
    metric_name = summary["metric"]
    board = summary["leaderboard"]
    ran = [r for r in board[1:] if r["state"] == "complete"]
    failed = sum(r["state"] == "failed" for r in board[1:])
    not_run = sum(r["state"] == "out of time" for r in board[1:])
    ensemble = board[0]
    members = ", ".join(ensemble["hyperparameters"].get("members", []))
    table(
        f"Leaderboard ({metric_name} out-of-fold, {summary['validation']}; top 15)",
        ["rank", "trial", "algorithm", f"{metric_name} (out-of-fold)", "hyperparameters", "weight"],
        [[0, "", "ensemble", ensemble[metric_name], members, ""]]
        + [
            [
                r["rank"],
                r["trial"],
                r["algorithm"],
                r[metric_name],
                format_value({"recipe": recipe_label(r), **r["hyperparameters"]}),
                r["weight"] or "",
            ]
            for r in ran[:15]
        ],
    )
    hidden = []
    if len(ran) > 15:
        hidden.append(f"{len(ran) - 15} more completed")
    if failed:
        hidden.append(f"{failed} failed")
    if not_run:
        hidden.append(f"{not_run} stopped by the time limit before they started")
    if hidden:
        console.print(
            f"Not listed: {'; '.join(hidden)} (all in 'kiln models show {result.model.ref} "
            "--json')."
        )
    for label, line in (
        ("Floor", floor_line(result.job.result)),
        ("Calibration", calibration_line(result.job.result)),
    ):
        if line:
            console.print(f"{label}: {line}.")
    score = f"{metric_name} {summary['score']} out-of-fold"
    if summary.get("test_score") is not None:
        score += f", {summary['test_score']} on the test split ({summary['test_rows']} rows)"
    console.print(
        f"AutoML job [bold]{result.job.id}[/]: {len(board) - 1 - not_run} trials ran in "
        f"{summary['seconds']:.0f} s; {score}; registered "
        f"[bold]{result.model.ref}[/] ({result.model.approval_status}). "
        f"Report: kiln jobs report {result.job.id}"
    )


@app.command()
def deploy(
    ctx: typer.Context,
    model: str = typer.Argument(
        None, help="GROUP:VERSION or GROUP@ALIAS (optional with --multi-model)."
    ),
    endpoint: str = typer.Option(..., "--endpoint", help="Endpoint name (created if new)."),
    variant: str = typer.Option(
        None, "--variant", help="Add (or repoint) this live variant; the others keep serving."
    ),
    weight: float = typer.Option(
        None, "--weight", help="The variant's traffic weight (relative to the others)."
    ),
    strategy: str = typer.Option(
        None,
        "--strategy",
        help="all-at-once | canary:10%:5m | linear:25%:2m | blue-green[:5m] (with auto rollback).",
    ),
    alarm: list[str] = typer.Option(
        None,
        "--alarm",
        help="An alarm that rolls a --strategy deployment back, e.g. error_rate>0.05 "
        "(repeatable; default: the built-in alarms; 'none': no alarm).",
    ),
    alarm_window: str = typer.Option(
        None, "--alarm-window", help="How far back alarms look (default: 60s, or the bake)."
    ),
    shadow: bool = typer.Option(
        False, "--shadow", help="Deploy as the shadow variant: copies of live traffic, unanswered."
    ),
    sample: str = typer.Option(
        "100%", "--sample", help="With --shadow: the share of live requests copied (e.g. 10%)."
    ),
    allow_unapproved: bool = typer.Option(
        False,
        "--allow-unapproved",
        help="Deploy a PendingManualApproval version (recorded in the endpoint's history).",
    ),
    multi_model: bool = typer.Option(
        False, "--multi-model", help="A multi-model endpoint: each request names its model."
    ),
    memory_budget: str = typer.Option(
        None, "--memory-budget", help="With --multi-model: memory for loaded models (2GB)."
    ),
    groups: str = typer.Option(
        None, "--groups", help="With --multi-model: the model groups served (default: all)."
    ),
    serverless: bool = typer.Option(
        False, "--serverless", help="Unload the models when idle; load them on the next request."
    ),
    max_concurrency: int = typer.Option(
        None, "--max-concurrency", help="With --serverless: requests in flight (default 20)."
    ),
    idle_timeout: str = typer.Option(
        None, "--idle-timeout", help="With --serverless: unload after this long idle (10m)."
    ),
    features: list[str] = typer.Option(
        None,
        "--features",
        help="Fill each request's rows from an online feature group by record id: GROUP:f1,f2 "
        "(repeatable).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Deploy a model version to an endpoint (alone, as a variant or shadow, guarded).

    Or, with --multi-model, make an endpoint that serves any deployable version a request names."""
    from kiln.endpoints import Endpoint

    ws = workspace(ctx)
    if multi_model:
        from kiln.cli._endpoints import deploy_multi_model

        if features:  # the SDK refuses the combination, with its reason
            ws.endpoints.deploy(model, endpoint=endpoint, multi_model=True, features=features)

        deploy_multi_model(
            ws, model, endpoint, memory_budget, groups, allow_unapproved, as_json=as_json
        )
        return
    with job_progress(f"Deploying {model} to {endpoint}", quiet=as_json or not strategy) as log:
        result = ws.endpoints.deploy(
            model,
            endpoint=endpoint,
            variant=variant,
            weight=weight,
            shadow=shadow,
            sample=parse_share(sample, what="--sample"),
            strategy=strategy,
            alarms=alarm or None,
            alarm_window=alarm_window,
            allow_unapproved=allow_unapproved,
            memory_budget=memory_budget,  # refused without --multi-model
            groups=groups,
            serverless=serverless,
            max_concurrency=max_concurrency,
            idle_timeout=idle_timeout,
            features=features or None,
            on_log=log,
        )
    if not isinstance(result, Endpoint):  # a guarded deployment's job
        if as_json:
            print_json({"job": result.id} | result.result)
            return
        console.print(
            f"Deployment job [bold]{result.id}[/] completed: endpoint [bold]{endpoint}[/] "
            f"serves {result.result['variant']} ({result.result['model']}) with all traffic."
        )
        return
    if as_json:
        print_json(result.to_dict())
        return
    served = ", ".join(
        f"{v['name']}={v['model']}"
        + (f" ({result.shares[v['name']]:.0%})" if v.get("role", "live") == "live" else " (shadow)")
        for v in result.variants
    )
    console.print(
        f"Endpoint [bold]{result.name}[/] revision {result.revision}: {served}. "
        "A running 'kiln serve' picks it up within a second; otherwise start one."
    )


@app.command()
def gc(
    ctx: typer.Context,
    delete: bool = typer.Option(
        False, "--delete", help="Delete the files found (without it: a dry run that lists them)."
    ),
    min_age: float = typer.Option(
        3600,
        "--min-age",
        help="Keep files younger than this many seconds (a job may be about to record them).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Find artifact files no record refers to; --delete removes them."""
    found = workspace(ctx).collect_garbage(delete=delete, min_age_seconds=min_age)
    if as_json:
        print_json(found)
        return
    size = found["bytes"] / 1e6
    if found["files"]:
        table(
            "Unreferenced artifacts" + (" (deleted)" if delete else ""),
            ["file", "MB", "age (h)"],
            [
                [f["key"], f"{f['bytes'] / 1e6:.2f}", f"{f['age_seconds'] / 3600:.1f}"]
                for f in found["files"]
            ],
        )
    verb = "Deleted" if delete else "Would delete"
    console.print(
        f"{verb} {len(found['files'])} file(s), {size:.1f} MB; kept {found['kept']} referenced "
        f"and {found['too_young']} younger than {min_age:g} s."
        + ("" if delete or not found["files"] else " Run 'kiln gc --delete' to delete them.")
    )


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (0.0.0.0: every interface, see the warning)."
    ),
    port: int = typer.Option(8080, "--port"),
    log_level: str = typer.Option("info", "--log-level"),
    require_auth: bool = typer.Option(
        None,
        "--require-auth/--no-require-auth",
        help="Refuse requests without an API key ('kiln keys create'); default: require_auth "
        "in kiln.toml.",
        show_default=False,
    ),
    tls_cert: Path = typer.Option(None, "--tls-cert", help="PEM certificate: serve HTTPS."),
    tls_key: Path = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    workers: int = typer.Option(1, "--workers", help="Server processes sharing the port."),
    autoscale: bool = typer.Option(
        None,
        "--autoscale/--no-autoscale",
        help="Resize the worker pool by the endpoints' autoscale policies (default: when an "
        "endpoint has one); --workers is the starting size.",
        show_default=False,
    ),
    autoscale_interval: float = typer.Option(
        None, "--autoscale-interval", hidden=True, help="Seconds between autoscaling samples."
    ),
    scheduler: bool = typer.Option(
        False, "--scheduler", help="Also run the scheduler (due monitors, retrainings, alarms)."
    ),
) -> None:
    """Serve every endpoint of the workspace over HTTP (OpenAPI at /docs)."""
    from kiln.serving import exposure_warning, serve

    ws = workspace(ctx, require_auth=require_auth)

    def announce(url: str) -> None:  # once the options are checked, before the port is bound
        warning = exposure_warning(ws, host, tls=url.startswith("https:"))
        if warning:
            err_console.print(f"[yellow]Warning:[/] {warning}")
        if ws.settings.require_auth and not ws.keys.list():
            err_console.print(
                "[yellow]Warning:[/] API keys are required and the workspace has none: every "
                "request but /ping will be refused. Create one with 'kiln keys create'."
            )
        err_console.print(f"Serving on {url} — docs at {url}/docs")

    with _scheduler_cli.scheduler_thread(ws, enabled=scheduler):
        serve(
            ws,
            host=host,
            port=port,
            log_level=log_level,
            tls_cert=tls_cert,
            tls_key=tls_key,
            workers=workers,
            autoscale=autoscale,
            autoscale_interval=autoscale_interval,
            announce=announce,
        )


@app.command()
def predict(
    endpoint: str = typer.Option(..., "--endpoint", help="Endpoint name."),
    data: Path = typer.Option(
        ..., "--data", help="CSV, JSON (a list of records) or JSON-lines file."
    ),
    url: str = typer.Option("http://127.0.0.1:8080", "--url", help="The running kiln server."),
    api_key: str = typer.Option(
        None, "--api-key", envvar="KILN_API_KEY", help="The key of a server run --require-auth."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Send rows from a file to a running endpoint and print the predictions."""
    from kiln.serving import EndpointClient

    with EndpointClient(url, api_key=api_key) as client:
        response = client.invoke_file(endpoint, data)
    if as_json:
        print_json(response)
        return
    rows = []
    for i, p in enumerate(response["predictions"]):
        if "label" in p:
            rows.append(
                [i, p["label"], ", ".join(f"{k}={v:.3f}" for k, v in p["probabilities"].items())]
            )
        elif "forecast" in p:  # a forecasting model: one line per series and step
            for step in p["forecast"]:
                quantiles = ", ".join(f"q{k}={v:.3f}" for k, v in step["quantiles"].items())
                where = f"{p['series']} {step['timestamp']}"
                rows.append([where, f"{step['mean']:.4f}", quantiles])
        else:
            rows.append([i, f"{p['value']:.4f}", ""])
    table(f"Predictions of {response['model']}", ["row", "prediction", "probabilities"], rows)
    for warning in response.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {warning}")


@app.command()
def transform(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="GROUP:VERSION"),
    input: Path = typer.Option(
        None,
        "--input",
        help="CSV or Parquet file, or a folder or glob of Parquet parts (a forecasting model: "
        "optional; series ids or history rows, every series when omitted).",
    ),
    output: Path = typer.Option(
        ..., "--output", help="CSV or Parquet file to write (a folder for Parquet parts)."
    ),
    keep: str = typer.Option(
        "input", "--keep", help="input (all input columns), id (--id-column only) or none."
    ),
    id_column: str = typer.Option(
        None, "--id-column", help="Keep only this column beside the predictions."
    ),
    chunk_rows: int = typer.Option(100_000, "--chunk-rows", help="Rows per chunk (bounds memory)."),
    as_json: bool = JsonOption,
) -> None:
    """Batch transform: score a file of any size in chunks, or a folder of Parquet parts."""
    if id_column and keep == "input":
        keep = "id"
    ws = workspace(ctx)
    with transform_progress(quiet=as_json) as on_log:
        job = ws.transform(
            model,
            input=input,
            output=output,
            keep=keep,
            id_column=id_column,
            chunk_rows=chunk_rows,
            on_log=on_log,
        )
    if as_json:
        print_json({"job": job.id} | job.result)
        return
    if "series" in job.result:  # a forecasting model
        console.print(
            f"Wrote {job.result['rows']:,} forecast rows of {job.result['series']:,} series to "
            f"[bold]{job.result['output']}[/] in {job.result['seconds']:.1f}s (job {job.id})."
        )
        return
    parts = f" ({job.result['parts']} parts)" if "parts" in job.result else ""
    console.print(
        f"Wrote {job.result['rows']:,} predictions to [bold]{job.result['output']}[/]{parts} "
        f"in {job.result['seconds']:.1f}s (job {job.id})."
    )


@app.command()
def quickstart(
    ctx: typer.Context,
    data: Path = typer.Option(
        None, "--data", help="The telco churn CSV (default: examples/churn/)."
    ),
    port: int = typer.Option(0, "--port", help="Port for the demo server (0: a free one)."),
) -> None:
    """The whole lifecycle on the telco churn data, in about half a minute."""
    from kiln.quickstart import run_quickstart

    run_quickstart(home=ctx.obj["home"], data=data, port=port, say=console.print, console=console)
