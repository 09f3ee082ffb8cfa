"""The forecasting options of ``kiln automl --problem-type forecasting`` (as ``kiln train``
takes them) and the forecasting AutoML leaderboard's table."""

from __future__ import annotations

import typer

from kiln.cli._common import console, table

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
