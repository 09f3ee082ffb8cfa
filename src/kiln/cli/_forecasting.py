"""The forecasting options that ``kiln automl`` (and ``kiln train``) take with ``--problem-type
forecasting``, their parsing into the SDK's keywords, and the AutoML leaderboard's table."""

from __future__ import annotations

import typer

from kiln.cli._common import console, table
from kiln.errors import ConfigError

__all__ = [
    "BacktestsOption",
    "CovariatesOption",
    "FillOption",
    "FrequencyOption",
    "HorizonOption",
    "IdOption",
    "QuantilesOption",
    "SeasonLengthOption",
    "ShortSeriesOption",
    "StaticOption",
    "TimestampOption",
    "forecasting_options",
    "print_forecast_automl",
]

IdOption = typer.Option(
    None, "--id", help="Forecasting: the series id column(s) (repeatable, or a,b; none: one)."
)
TimestampOption = typer.Option(None, "--timestamp", help="Forecasting: the column of times.")
HorizonOption = typer.Option(None, "--horizon", help="Forecasting: steps ahead (default 14).")
FrequencyOption = typer.Option(
    None, "--frequency", help="Forecasting: D, W, MS, h, ... (default: inferred)."
)
QuantilesOption = typer.Option(
    None, "--quantiles", help="Forecasting: quantiles to forecast (default 0.1,0.5,0.9)."
)
CovariatesOption = typer.Option(
    None, "--covariates", help="Forecasting: known-in-advance columns, comma-separated."
)
StaticOption = typer.Option(
    None, "--static", help="Forecasting: per-series attribute columns, comma-separated."
)
FillOption = typer.Option(
    None, "--fill", help="Forecasting: gap rule none, zero, ffill or interpolate (default none)."
)
SeasonLengthOption = typer.Option(
    None, "--season-length", help="Forecasting: steps in a season (default: the frequency's)."
)
BacktestsOption = typer.Option(
    None, "--backtests", help="Forecasting: rolling-origin backtest windows (default 3)."
)
ShortSeriesOption = typer.Option(
    None, "--short-series", help="Forecasting: baseline or drop a too-short series."
)


def _columns(texts: str | list[str] | None) -> list[str] | None:
    """Column names from comma-separated (and, for a list, repeated) option values."""
    if not texts:
        return None
    texts = [texts] if isinstance(texts, str) else texts
    return [c.strip() for text in texts for c in text.split(",") if c.strip()]


def _quantiles(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(q) for q in text.split(",")]
    except ValueError:
        raise ConfigError(
            f"--quantiles takes numbers between 0 and 1 separated by commas; got {text!r} "
            "(for example 0.1,0.5,0.9).",
            code="forecast.bad-quantiles",
            field="quantiles",
        ) from None


def forecasting_options(
    *,
    id: list[str] | None,
    timestamp: str | None,
    horizon: int | None,
    frequency: str | None,
    quantiles: str | None,
    covariates: str | None,
    static: str | None,
    fill: str | None,
    season_length: int | None,
    backtests: int | None,
    short_series: str | None,
) -> dict:
    """The SDK's forecasting keywords from the options' text; options not given are left out,
    so the SDK's defaults apply."""
    given = {
        "id": _columns(id),
        "timestamp": timestamp,
        "horizon": horizon,
        "frequency": frequency,
        "quantiles": _quantiles(quantiles),
        "covariates": _columns(covariates),
        "static": _columns(static),
        "fill": fill,
        "season_length": season_length,
        "backtests": backtests,
        "short_series": short_series,
    }
    return {k: v for k, v in given.items() if v is not None}


def print_forecast_automl(result) -> None:
    """The leaderboard of forecasting AutoML (best first) and what was registered."""
    from kiln.reports import format_value

    summary = result.job.result["leaderboard"]
    metric = summary["metric"]
    other = "mase" if metric == "wql" else "wql"
    windows = ", ".join(map(str, summary["windows"]))
    rows = []
    for rank, row in enumerate(summary["rows"], start=1):
        metrics = row.get("metrics") or {}

        def shown(value) -> str:
            return "" if value is None else format_value(value)

        rows.append(
            [
                rank if row["state"] == "complete" else "",
                row["candidate"],
                row["state"],
                shown(metrics.get(metric)),
                shown(metrics.get(other)),
                shown(row.get("seconds")),
                format_value(row.get("weight")) if row.get("weight") else "",
                row.get("reason", ""),
            ]
        )
    table(
        f"Leaderboard ({metric}, backtest windows {windows})",
        ["rank", "candidate", "state", metric, other, "seconds", "weight", "note"],
        rows,
    )
    console.print(
        f"Job [bold]{result.job.id}[/] completed in {result.job.duration_seconds:.1f}s; "
        f"registered model [bold]{result.model.ref}[/] ({result.model.algorithm}, "
        f"{result.model.approval_status})."
    )
