"""``ws.train(..., problem_type="forecasting")``: the keyword options a forecaster takes, checked
into a :class:`ForecastSpec` before any job starts, and the table checked against it.

Training options that have no meaning for a forecaster (a row split, cross-validation, a
recipe, misclassification costs) are refused by name rather than ignored, and forecasting
options given to an ordinary training are refused the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kiln.errors import ConfigError
from kiln.forecasting._panel import ForecastSpec, _column_list, prepare_panel
from kiln.forecasting._train import DEFAULT_ALGORITHM, check_backtest_room, train_forecaster
from kiln.problems import FORECASTING

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.training import TrainingResult

__all__ = ["FORECAST_OPTIONS", "check_not_forecasting", "forecast_spec_of", "train_forecasting"]

# The options only a forecaster takes (ws.train's keywords; ``id`` names the series columns).
FORECAST_OPTIONS = (
    "timestamp",
    "id",
    "horizon",
    "frequency",
    "quantiles",
    "covariates",
    "static",
    "fill",
    "season_length",
    "backtests",
    "short_series",
)
# Options a forecaster shares with ordinary training.
_SHARED = (
    "target",
    "problem_type",
    "hyperparameters",
    "name",
    "seed",
    "require",
    "problem",
    "experiment",
)
# Ordinary training options that mean nothing to a forecaster, with what it does instead.
_NOT_FOR_FORECASTING = {
    "ratios": "a forecaster is scored by rolling-origin backtests (backtests=), not a row split",
    "validation": "backtests= sets the number of rolling-origin windows",
    "time_column": "timestamp= names the time column",
    "group_column": "id= names the series columns",
    "recipe": "a forecaster builds its own lag and calendar features",
    "cost_fp": "costs of false positives apply to binary classification only",
    "cost_fn": "costs of false negatives apply to binary classification only",
    "options": "give the forecasting options as keywords (TrainingOptions has no horizon)",
}


def check_not_forecasting(options: dict[str, Any]) -> None:
    """Refuse forecasting options in an ordinary training (``forecast.needs-problem-type``)."""
    given = [name for name in FORECAST_OPTIONS if name in options]
    if given:
        raise ConfigError(
            f"{', '.join(given)}: forecasting options, but this training is not a forecast. "
            'Add problem_type="forecasting" (--problem-type forecasting) to forecast, or leave '
            "them out.",
            code="forecast.needs-problem-type",
            field=given[0],
        )


def _id_columns(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    return [] if value is None else _column_list(value, "id")


def forecast_spec_of(options: dict[str, Any]) -> tuple[ForecastSpec, dict[str, Any]]:
    """The checked spec of ``ws.train``'s forecasting keywords, and the options left for
    :func:`kiln.forecasting.train_forecaster` (name, seed, require, ...)."""
    refused = [name for name in options if name in _NOT_FOR_FORECASTING]
    if refused:
        reasons = "; ".join(f"{name}: {_NOT_FOR_FORECASTING[name]}" for name in refused)
        raise ConfigError(
            f"Not options of a forecaster ({reasons}). Leave them out.",
            code="forecast.bad-option",
            field=refused[0],
        )
    known = [*FORECAST_OPTIONS, *_SHARED]
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Unknown forecasting option {name!r}.{hint} Options: {', '.join(known)}.",
                code="training.unknown-option",
                field=name,
            )
    missing = [name for name in ("target", "timestamp") if options.get(name) is None]
    if missing:
        raise ConfigError(
            f"A forecast needs {' and '.join(missing)}=: the column to forecast and the time "
            "column (--target and --timestamp).",
            code="forecast.missing-option",
            field=missing[0],
        )
    spec_fields = {
        name: options[name]
        for name in FORECAST_OPTIONS
        if name != "id" and options.get(name) is not None
    }
    spec = ForecastSpec(
        target=options["target"], id_columns=_id_columns(options.get("id")), **spec_fields
    ).check()
    rest = {name: options[name] for name in _SHARED[2:] if options.get(name) is not None}
    return spec, rest


def train_forecasting(
    workspace: Context,
    data: str,
    *,
    algorithm: str | None = None,
    on_log: Callable[[str], None] | None = None,
    **options: Any,
) -> TrainingResult:
    """Backtest and register a forecaster from ``ws.train``'s keywords (see
    docs/forecasting.md). The table is checked against the spec here, before the job starts,
    so a bad timestamp, a duplicate or a gap is an error at once and never a failed job."""
    if options.get("problem_type", FORECASTING) != FORECASTING:
        raise ConfigError(
            f"train_forecasting trains forecasters; got problem_type={options['problem_type']!r}.",
            code="forecast.needs-problem-type",
        )
    if not isinstance(data, str):
        raise ConfigError(
            f"A forecaster trains on one data set (a name or name:version); got {data!r}.",
            code="forecast.bad-option",
            field="data",
        )
    spec, rest = forecast_spec_of(options)
    dataset = workspace.data.get(data)
    columns = set(dataset.column_types())
    if all(c in columns for c in spec.columns):  # else the job spec names the missing ones
        panel, _, _ = prepare_panel(workspace.data.load(dataset, columns=spec.columns), spec)
        check_backtest_room(panel, spec)
    return train_forecaster(
        workspace,
        dataset.ref,
        spec,
        algorithm=algorithm or DEFAULT_ALGORITHM,
        on_log=on_log,
        **rest,
    )
