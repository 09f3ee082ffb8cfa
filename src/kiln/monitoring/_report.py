"""The HTML report of one monitor run, from its record: aggregates only, never a raw row.

The distribution plots are drawn from the two statistics documents (the quantile sketches and the
category counts), so a report of 30 drifted columns stays a few tens of kB above plotly.js, which
``kiln.reports.write`` keeps in a file of its own beside the page.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import markupsafe
import numpy as np

from kiln.monitoring._drift import _cdf
from kiln.reports import Section, compact_template, fields, format_value, grid, note, render, table

__all__ = ["monitor_report"]

_REFERENCE, _CURRENT = "#636efa", "#EF553B"
# Bins of a numeric column's distribution plot, and categories of a categorical one.
PLOT_BINS = 30
PLOT_CATEGORIES = 20


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else None
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


class _Figures:
    """Figures as plain JSON drawn by one script, with the template embedded once."""

    def __init__(self) -> None:
        self.items: list[list] = []

    def add(self, data: list[dict], layout: dict, height: int = 260) -> str:
        name = f"mf{len(self.items)}"
        self.items.append([name, data, layout | {"height": height}])
        return f'<div id="{name}" style="height:{height}px"></div>'

    def script(self) -> str:
        if not self.items:
            return ""
        payload = json.dumps(
            [
                [n, [{k: _round(v) for k, v in t.items()} for t in d], lay]
                for n, d, lay in self.items
            ],
            separators=(",", ":"),
        ).replace("</", "<\\/")
        template = json.dumps(compact_template(), separators=(",", ":")).replace("</", "<\\/")
        return (
            "<script>(function () {\n"
            f"var T = {template};\nvar F = {payload};\n"
            "F.forEach(function (f) {\n"
            "  var layout = Object.assign({template: T, margin: {l: 50, r: 20, t: 40, b: 40}},"
            " f[2]);\n"
            "  Plotly.newPlot(f[0], f[1], layout, {displaylogo: false, responsive: true});\n"
            "});\n})();</script>"
        )


def _features(document: dict | None) -> dict[str, dict]:
    return {f["name"]: f for f in (document or {}).get("features", [])}


def _cell(value: Any) -> Any:
    """A table cell: numbers as they are (the table formats floats), the rest as short text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return format_value(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return (
            "[" + ", ".join(_text(v) for v in value[:10]) + (", …" if len(value) > 10 else "") + "]"
        )
    return str(value)


def _summary(run: dict, summary: dict, drift: list[dict]) -> Section:
    violations = run.get("violations") or []
    drifted = sorted({d["column"] for d in drift if d.get("drifted")})
    badge = "bad" if violations else "good"
    values: dict[str, Any] = {
        "Monitor": run.get("monitor"),
        "Run": run.get("id"),
        "Type": run.get("type"),
        "Status": run.get("status"),
        "Window": f"{run.get('window_start') or '—'} → {run.get('window_end') or '—'}",
        "Rows checked": summary.get("rows"),
        "Corrupt records skipped": summary.get("corrupt_records", 0),
        "Violations": markupsafe.Markup(f'<span class="badge {badge}">{len(violations)}</span>'),
    }
    if drift:
        values["Drifted columns"] = f"{len(drifted)}: {', '.join(drifted)}" if drifted else "0"
    inputs = run.get("inputs")
    if inputs:
        values["Inputs"] = _text(inputs)
    return Section("Summary", fields(values))


def _violations(run: dict) -> Section:
    violations = run.get("violations") or []
    if not violations:
        return Section("Violations", note("No violation: every check passed."))
    rows = [
        [
            v.get("column"),
            v.get("check"),
            _cell(v.get("observed")),
            _cell(v.get("expected")),
            _cell(v.get("evidence")),
        ]
        for v in violations
    ]
    return Section(
        "Violations", table(["column", "check", "observed", "expected", "evidence"], rows)
    )


def _numeric_plot(name: str, before: dict, after: dict, figures: _Figures) -> str:
    ref_q = np.asarray(before["quantiles"]["values"], dtype=float)
    cur_q = np.asarray(after["quantiles"]["values"], dtype=float)
    low, high = min(ref_q[0], cur_q[0]), max(ref_q[-1], cur_q[-1])
    # Bins over the central 99 % of both, so one outlier does not squash the plot.
    low = min(np.quantile(ref_q, 0.005), np.quantile(cur_q, 0.005)) if high > low else low
    high = max(np.quantile(ref_q, 0.995), np.quantile(cur_q, 0.995)) if high > low else low + 1
    edges = np.linspace(low, high, PLOT_BINS + 1)
    centres = ((edges[1:] + edges[:-1]) / 2).tolist()
    traces = []
    for label, quantiles, colour in (
        ("reference", ref_q, _REFERENCE),
        ("current", cur_q, _CURRENT),
    ):
        shares = np.diff(_cdf(quantiles, edges)).tolist()
        traces.append(
            {
                "type": "bar",
                "x": centres,
                "y": shares,
                "name": label,
                "marker": {"color": colour},
                "opacity": 0.6,
            }
        )
    layout = {
        "title": {"text": html.escape(name)},
        "barmode": "overlay",
        "bargap": 0,
        "yaxis": {"title": {"text": "share of rows"}},
    }
    return figures.add(traces, layout)


def _categorical_plot(name: str, before: dict, after: dict, figures: _Figures) -> str:
    ref = before.get("frequencies", {})
    cur = after.get("frequencies", {})
    ref_total = before["common"]["num_present"] or 1
    cur_total = after["common"]["num_present"] or 1
    labels = sorted(
        set(ref) | set(cur),
        key=lambda k: -max(ref.get(k, 0) / ref_total, cur.get(k, 0) / cur_total),
    )[:PLOT_CATEGORIES]
    traces = [
        {
            "type": "bar",
            "x": labels,
            "y": [counts.get(k, 0) / total for k in labels],
            "name": label,
            "marker": {"color": colour},
        }
        for label, counts, total, colour in (
            ("reference", ref, ref_total, _REFERENCE),
            ("current", cur, cur_total, _CURRENT),
        )
    ]
    layout = {
        "title": {"text": html.escape(name)},
        "barmode": "group",
        "yaxis": {"title": {"text": "share of rows"}},
        "xaxis": {"type": "category"},
    }
    return figures.add(traces, layout)


def _drift(summary: dict, drift: list[dict], figures: _Figures) -> Section | None:
    if not drift:
        return None
    rows = [
        [
            d["column"] + (" (prediction)" if d.get("prediction") else ""),
            d.get("statistic"),
            d.get("value"),
            d.get("threshold"),
            None if d.get("p_value") is None else format_value(d["p_value"]),
            not d.get("drifted"),  # rendered below as "no" (pass) or "drifted" (fail)
        ]
        for d in drift
    ]
    body = table(
        ["column", "statistic", "value", "threshold", "p-value", "drifted"],
        rows,
        classes={5: "verdict"},
    )
    body = body.replace('<td class="pass">pass</td>', '<td class="pass">no</td>').replace(
        '<td class="fail">fail</td>', '<td class="fail">drifted</td>'
    )
    reference = _features(summary.get("baseline_statistics"))
    current = _features(summary.get("statistics"))
    plots = []
    for name in dict.fromkeys(d["column"] for d in drift if d.get("drifted")):
        before, after = reference.get(name, {}), current.get(name, {})
        if before.get("numerical_statistics", {}).get("quantiles") and after.get(
            "numerical_statistics", {}
        ).get("quantiles"):
            plots.append(
                _numeric_plot(
                    name, before["numerical_statistics"], after["numerical_statistics"], figures
                )
            )
        elif before.get("string_statistics") and after.get("string_statistics"):
            plots.append(
                _categorical_plot(
                    name, before["string_statistics"], after["string_statistics"], figures
                )
            )
    explanation = note(
        "Each statistic is an effect size compared with its threshold. A column drifts when any "
        "of its statistics passes its threshold and the column's test (KS for numbers, "
        "chi-square for categories; its p-value on every row) tells the window from the "
        "reference, so a small window's noise is not drift. Plots: reference against current "
        "share of rows, from the baseline's and the window's statistics (quantile sketches and "
        "category counts)."
    )
    return Section("Drift", explanation + body + (grid(*plots) if plots else ""))


def _statistic(feature: dict, *keys: str) -> Any:
    value: Any = feature
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _columns(summary: dict) -> Section | None:
    reference = _features(summary.get("baseline_statistics"))
    current = _features(summary.get("statistics"))
    if not reference and not current:
        return None
    rows = []
    for name in dict.fromkeys([*reference, *current]):
        before, after = reference.get(name, {}), current.get(name, {})
        numeric = "numerical_statistics" in before or "numerical_statistics" in after
        row: list[Any] = [name, before.get("inferred_type") or after.get("inferred_type")]
        row += [before.get("completeness"), after.get("completeness")]
        if numeric:
            for key in ("mean", "std_dev", "min", "max"):
                row += [
                    _statistic(before, "numerical_statistics", key),
                    _statistic(after, "numerical_statistics", key),
                ]
            row += [None, None]
        else:
            row += [None] * 8
            row += [
                _statistic(before, "string_statistics", "distinct_count"),
                _statistic(after, "string_statistics", "distinct_count"),
            ]
        rows.append(row)
    headers = ["column", "type", "completeness ref", "completeness cur"]
    for label in ("mean", "sd", "min", "max", "distinct"):
        headers += [f"{label} ref", f"{label} cur"]
    return Section(
        "Column statistics",
        note("The baseline's (ref) and this window's (cur) statistics per column.")
        + table(headers, rows),
    )


def _generic(title: str, value: Any) -> Section:
    """Another monitor type's summary (model quality, bias, attribution) as tables."""
    if (
        isinstance(value, dict)
        and value
        and all(not isinstance(v, dict | list) for v in value.values())
    ):
        body = table(["name", "value"], [[k, _cell(v)] for k, v in value.items()])
    elif isinstance(value, dict):
        parts = []
        for key, item in value.items():
            parts.append(f"<h3>{html.escape(str(key))}</h3>" + _generic("", item).body)
        body = "".join(parts)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        headers = list(dict.fromkeys(k for item in value for k in item))
        body = table(headers, [[_cell(item.get(k)) for k in headers] for item in value])
    else:
        body = note(_text(value))
    return Section(title, body)


def _metrics(run: dict, *, collapsed: bool) -> Section | None:
    metrics = run.get("metrics") or {}
    if not metrics:
        return None
    body = table(["metric", "value"], [[k, _cell(v)] for k, v in sorted(metrics.items())])
    if collapsed:
        body = f"<details><summary>{len(metrics)} metrics</summary>{body}</details>"
    return Section("Metrics", note("The flat metrics alarms can watch.") + body)


def monitor_report(run: dict) -> str:
    """One monitor run as a self-contained HTML page, from its record as a dict.

    Parameters
    ----------
    run
        ``MonitorRun.to_dict()``: ``id``, ``monitor``, ``type``, ``status``, ``window_start``,
        ``window_end``, ``inputs``, ``metrics``, ``violations`` and ``summary`` (``drift``,
        ``statistics``, ``baseline_statistics``, ``rows``, ``corrupt_records``, and per type
        ``quality``, ``bias`` or ``attribution``).

    Returns
    -------
    str
        The page, plotly.js inlined (``kiln.reports.write`` moves it into a shared file).
    """
    summary = run.get("summary") or {}
    drift = summary.get("drift") or []
    figures = _Figures()
    sections = [_summary(run, summary, drift), _violations(run)]
    drift_section = _drift(summary, drift, figures)
    if drift_section:
        sections.append(drift_section)
    columns = _columns(summary)
    if columns:
        sections.append(columns)
    titles = {
        "quality": "Model quality",
        "forecast_quality": "Forecast quality",
        "bias": "Bias",
        "attribution": "Attribution",
    }
    for key, title in titles.items():
        if summary.get(key) is not None:
            sections.append(_generic(title, summary[key]))
    metrics = _metrics(run, collapsed=bool(drift))
    if metrics:
        sections.append(metrics)
    last = sections[-1]
    sections[-1] = Section(last.title, last.body + figures.script())
    return render(
        f"Monitor {run.get('monitor') or ''} · run {run.get('id') or ''}",
        sections,
        subtitle=f"{run.get('type') or 'monitor'} run, {run.get('status') or 'unknown status'}",
        toc=True,
        plotly_bundle="cartesian",
    )
