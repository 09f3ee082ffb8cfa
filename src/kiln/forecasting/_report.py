"""The HTML report of a forecasting job: the backtest's metrics overall and by horizon step,
forecasts against actuals for a sample of series (the worst included), the worst series, and
what was inferred, filled and set aside in the data.

It reads only the job's result and the backtest tables the job stored, so any job that stores
them the same way (a forecasting AutoML job too) can use :func:`backtest_sections`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.forecasting._panel import SERIES, STEP, TARGET, TIMESTAMP, quantile_column
from kiln.forecasting._train import backtest_frames
from kiln.reports import JobReport, Section, bullets, fields, figure, grid, note, render, table
from kiln.reports import write as write_page

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.context import Context

__all__ = ["backtest_sections", "forecast_report"]

SAMPLED_SERIES = 6  # series drawn against their actual values, the worst among them
WORST_SERIES = 10  # rows of the worst-series table
METRICS = ("mase", "smape", "mape", "rmse", "wql", "coverage")
_ABOUT_METRICS = (
    "MASE: mean absolute error over the series' in-sample seasonal-naive error (below 1 beats "
    "seasonal naive); sMAPE and MAPE: relative errors as fractions; RMSE in the target's "
    "units; WQL: weighted quantile loss over the quantiles, relative to the actual values; "
    "coverage: the share of actual values within the outermost quantiles (nominal beside it). "
    "MASE, sMAPE and MAPE average per series first; RMSE, WQL and coverage pool every forecast."
)


def _quantiles(forecasts: pd.DataFrame) -> list[float]:
    """The quantiles the forecasts carry (their ``q0.1`` columns)."""
    found = []
    for column in forecasts.columns:
        if column.startswith("q"):
            try:
                found.append(float(column[1:]))
            except ValueError:
                continue
    return sorted(found)


def _by_step_figure(by_step: pd.DataFrame) -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    for metric in ("mase", "smape", "wql", "coverage"):
        if metric in by_step and by_step[metric].notna().any():
            fig.add_scatter(
                x=by_step[STEP], y=by_step[metric], mode="lines+markers", name=metric.upper()
            )
    fig.update_layout(xaxis_title="steps ahead", yaxis_title="metric", hovermode="x unified")
    return figure(fig, height=320)


def _sample_series(per_series: pd.DataFrame, count: int) -> list[str]:
    """The worst series by MASE, then others drawn at random (seeded, so the report is stable)."""
    ranked = per_series.sort_values("mase", ascending=False, na_position="last")
    names = ranked[SERIES].astype(str).tolist()
    if not names:
        return []
    others = names[1:]
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(others), size=min(count - 1, len(others)), replace=False)
    return [names[0], *sorted(others[i] for i in chosen)]


def _series_figure(frame: pd.DataFrame, name: str, low: str | None, high: str | None) -> str:
    import plotly.graph_objects as go

    frame = frame.sort_values(TIMESTAMP)
    fig = go.Figure()
    if low and high:
        fig.add_scatter(
            x=frame[TIMESTAMP], y=frame[high], mode="lines", line_width=0, showlegend=False
        )
        fig.add_scatter(
            x=frame[TIMESTAMP],
            y=frame[low],
            mode="lines",
            line_width=0,
            fill="tonexty",
            fillcolor="rgba(99,110,250,0.2)",
            name=f"{low}–{high}",
        )
    fig.add_scatter(x=frame[TIMESTAMP], y=frame["mean"], mode="lines", name="forecast")
    fig.add_scatter(
        x=frame[TIMESTAMP],
        y=frame[TARGET],
        mode="lines+markers",
        marker_size=4,
        line_color="black",
        name="actual",
    )
    fig.update_layout(title=name, showlegend=True, legend_orientation="h")
    return figure(fig, height=280, compact=True)


def _worst_rows(per_series: pd.DataFrame) -> list[list[Any]]:
    worst = per_series.sort_values("mase", ascending=False, na_position="last").head(WORST_SERIES)
    return [
        [row[SERIES], *[None if pd.isna(row.get(m)) else float(row[m]) for m in METRICS]]
        for _, row in worst.iterrows()
    ]


def _notes(series: dict, spec: dict) -> Section:
    filled = series.get("filled") or {}
    values = {
        "Frequency": f"{series.get('frequency')}"
        + (" (inferred)" if series.get("inferred_frequency") else " (given)"),
        "Season length": f"{series.get('season_length')} steps",
        "Series": series.get("series"),
        "Filled gaps": (
            f"{sum(filled.values())} step(s) in {len(filled)} series, rule {spec.get('fill')!r}"
            if filled
            else "none"
        ),
    }
    parts = [fields(values)]
    if filled:
        shown = sorted(filled.items(), key=lambda item: -item[1])[:WORST_SERIES]
        parts.append(table(["series", "filled steps"], [list(item) for item in shown]))
    short, dropped = series.get("short") or [], series.get("dropped") or []
    if dropped:
        parts.append(
            note(
                f"{len(dropped)} series shorter than the horizon plus one season were dropped "
                "(short_series='drop'): they have no forecasts."
            )
            + bullets([str(s) for s in dropped[:20]] + (["…"] if len(dropped) > 20 else []))
        )
    elif short:
        parts.append(
            note(
                f"{len(short)} series shorter than the horizon plus one season are forecast by "
                "a baseline (short_series='baseline'): the naive one, unless the algorithm is "
                "a baseline that needs fewer values."
            )
            + bullets([str(s) for s in short[:20]] + (["…"] if len(short) > 20 else []))
        )
    if series.get("empty"):
        parts.append(note(f"{len(series['empty'])} series had no target value and were left out."))
    return Section("Series notes", "".join(parts))


def backtest_sections(workspace: Context, result: dict, spec: dict) -> list[Section]:
    """The report's backtest sections for a job ``result`` that stored its backtest tables
    (``result["backtest"]["tables"]``) and the series notes (``result["series"]``); ``spec``
    is the job's :class:`ForecastSpec` as a dict."""
    frames = backtest_frames(workspace, result["backtest"]["tables"])
    forecasts, per_series, by_step = frames["forecasts"], frames["per_series"], frames["by_step"]
    metrics = (result.get("metrics") or {}).get("backtest") or {}
    windows = result["backtest"]["windows"]
    sections = [
        Section(
            "Backtest metrics",
            table(
                ["metric", "value"],
                [[name, metrics.get(name)] for name in (*METRICS, "coverage_nominal")],
            )
            + note(
                f"{windows} rolling-origin window(s) of {spec.get('horizon')} steps, each fitted "
                f"only on what came before it. {_ABOUT_METRICS}"
            ),
        )
    ]
    if len(by_step):
        sections.append(
            Section(
                "Metrics by horizon step",
                _by_step_figure(by_step)
                + note("Each metric over the forecasts made that many steps ahead."),
            )
        )
    if len(forecasts):
        quantiles = _quantiles(forecasts)
        low = quantile_column(quantiles[0]) if len(quantiles) > 1 else None
        high = quantile_column(quantiles[-1]) if len(quantiles) > 1 else None
        shown = _sample_series(per_series, SAMPLED_SERIES)
        forecasts = forecasts.astype({SERIES: str})
        plots = [
            _series_figure(forecasts[forecasts[SERIES] == name], name, low, high) for name in shown
        ]
        sections.append(
            Section(
                "Forecasts against actuals",
                grid(*plots)
                + note(
                    f"{len(shown)} of {per_series[SERIES].nunique()} series: the worst by MASE "
                    f"({shown[0]}) first, the others drawn at random. Each of the {windows} "
                    "window(s) is forecast from its own origin; the band spans the outermost "
                    "quantiles."
                ),
            )
        )
    if len(per_series):
        sections.append(
            Section(
                "Worst series",
                table(["series", *METRICS], _worst_rows(per_series))
                + note(
                    f"The {WORST_SERIES} series with the highest MASE over the backtest (a "
                    "series of several id columns is named by their values joined with |)."
                ),
            )
        )
    sections.append(_notes(result.get("series") or {}, spec))
    return sections


def _leaderboard_section(summary: dict) -> Section:
    """Forecasting AutoML's candidates, best first: state, backtest metrics on the windows all
    of them ran, seconds, ensemble weight, and why one did not run."""
    metric = summary["metric"]
    other = "mase" if metric == "wql" else "wql"
    rows = [
        [
            row["candidate"],
            row["state"],
            (row.get("metrics") or {}).get(metric),
            (row.get("metrics") or {}).get(other),
            row.get("windows"),
            row.get("seconds"),
            row.get("weight") or None,
            row.get("reason", ""),
        ]
        for row in summary["rows"]
    ]
    windows = ", ".join(map(str, summary["windows"]))
    return Section(
        "Leaderboard",
        table(["candidate", "state", metric, other, "windows", "seconds", "weight", "note"], rows)
        + note(
            f"Each candidate's rolling-origin backtest, compared on window(s) {windows} (those "
            f"all of them ran), best {metric} first. The ensemble (greedy selection on the "
            "backtest forecasts) is registered only when it beats the best candidate; weight is "
            "each candidate's share in what was registered."
        ),
    )


def forecast_report(
    workspace: Context, job: Job, *, out: str | Path | None = None, **_options: Any
) -> JobReport:
    """Write the report of a completed forecasting job; returns a JobReport."""
    started = time.perf_counter()
    result, spec = job.result, job.spec.get("spec") or {}
    summary = {
        "Data set": job.spec.get("dataset"),
        "Model": result.get("model"),
        "Algorithm": job.spec.get("algorithm"),
        "Target": spec.get("target"),
        "Series id": ", ".join(spec.get("id_columns") or []) or "(one series)",
        "Horizon": f"{spec.get('horizon')} steps",
        "Quantiles": ", ".join(f"{q:g}" for q in spec.get("quantiles") or []),
        "Backtest": f"{result['backtest']['windows']} window(s) in "
        f"{result['backtest']['seconds']:.1f} s",
        "Final fit": f"{result['fit_seconds']:.1f} s" if "fit_seconds" in result else None,
    }
    if "leaderboard" in result:  # a forecasting AutoML job
        summary["Algorithm"] = f"AutoML ({result['time_limit']:g} s): {result['algorithm']}"
    sections = [
        Section("Summary", fields(summary)),
        *([_leaderboard_section(result["leaderboard"])] if "leaderboard" in result else []),
        *backtest_sections(workspace, result, spec),
    ]
    path = Path(out) if out else Path(workspace.home) / "reports" / f"{job.id}.html"
    write_page(
        path,
        render(f"Forecasting job {job.id}", sections, toc=True, plotly_bundle="cartesian"),
    )
    return JobReport(
        path=path,
        job_id=job.id,
        diagnosis=None,  # a classifier's bias/variance diagnosis has no forecasting counterpart
        metrics=result.get("metrics") or {},
        seconds=time.perf_counter() - started,
        sections=[s.title for s in sections],
    )
