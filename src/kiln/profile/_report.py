"""The profile as one self-contained HTML page, through the shared renderer in kiln.reports.

Every figure is drawn from aggregates (histogram bins, box statistics, correlation matrices,
contingency tables) or at most 1,000 sample points, never from the raw rows, so the page stays a
few hundred kB above plotly.js whatever the size of the table.
"""

from __future__ import annotations

import html
import json
import math
from contextvars import ContextVar
from typing import TYPE_CHECKING

import markupsafe

from kiln.data import NUMERIC
from kiln.profile._format import counted, percent
from kiln.reports import Section, bullets, compact_template, fields, grid, note, render, table

if TYPE_CHECKING:
    from kiln.profile._profile import Profile
    from kiln.reports import Section

_BLUE, _RED = "#636efa", "#EF553B"
_PALETTE = ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692")
_STAT_ROWS = (
    ("count", "count"),
    ("missing", "missing"),
    ("missing_pct", "missing %"),
    ("distinct", "distinct"),
    ("mean", "mean"),
    ("std", "std"),
    ("min", "min"),
    ("q1", "25%"),
    ("median", "50%"),
    ("q3", "75%"),
    ("max", "max"),
    ("skewness", "skewness"),
    ("kurtosis", "kurtosis (excess)"),
    ("zeros", "zeros"),
    ("outliers_z", "outliers |z| > 3"),
    ("outliers_iqr", "outliers outside 1.5 IQR"),
    ("mean_length", "mean length"),
    ("true", "true"),
    ("true_pct", "true %"),
)
# Statistics that are percentages, shown as "12.3 %" rather than as raw floats.
_PERCENT_STATS = {"missing_pct", "true_pct"}


_NESTED = ("marker", "line", "xaxis", "yaxis", "diagonal")


def _expand(values: dict) -> dict:
    """plotly's ``marker_color=...`` shorthand as nested JSON (``{"marker": {"color": ...}}``)."""
    out: dict = {}
    for key, value in values.items():
        if value is None:
            continue
        head, _, rest = key.partition("_")
        if rest and head in _NESTED:
            if rest == "title":
                value = {"text": value}
            out.setdefault(head, {})[rest] = value
        elif key == "title":
            out[key] = {"text": value}
        else:
            out[key] = value
    return out


def _trace(kind: str, **values) -> dict:
    return {"type": kind} | _expand(values)


class _Figure:
    """A plotly figure as plain JSON: the report draws every figure from one script, with the
    template embedded once, which keeps ~100 figures within a few hundred kB."""

    def __init__(self, *traces: dict):
        self.data = [t for t in traces if t]
        self.layout: dict = {}

    def add_trace(self, trace: dict) -> None:
        self.data.append(trace)

    def update_layout(self, **values) -> None:
        self.layout |= _expand(values)


_FIGURES: ContextVar[list | None] = ContextVar("profile_figures", default=None)


def _fig(fig: _Figure, height: int = 300) -> str:
    figures = _FIGURES.get()
    assert figures is not None, "figures are only drawn inside render_profile"
    name = f"pf{len(figures)}"
    figures.append([name, fig.data, fig.layout | {"height": height}])
    return f'<div id="{name}" style="height:{height}px"></div>'


def _round(value):
    """Floats to 5 significant digits, recursively: plenty for a plot, and much shorter."""
    if isinstance(value, float):
        return float(f"{value:.5g}") if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def _script(figures: list) -> str:
    template = compact_template()
    payload = json.dumps(_round(figures), separators=(",", ":"), ensure_ascii=False)
    payload = payload.replace("</", "<\\/")
    template_json = json.dumps(template, separators=(",", ":")).replace("</", "<\\/")
    return (
        "<script>(function () {\n"
        f"var T = {template_json};\n"
        f"var F = {payload};\n"
        "F.forEach(function (f) {\n"
        "  var layout = Object.assign({template: T, margin: {l: 50, r: 20, t: 40, b: 40}}, f[2]);\n"
        "  Plotly.newPlot(f[0], f[1], layout, {displaylogo: false, responsive: true});\n"
        "});\n})();</script>"
    )


def render_profile(profile: Profile) -> str:
    """The whole report page."""

    facts, plots = profile.facts, profile.plots
    token = _FIGURES.set([])
    try:
        sections = [
            _overview(facts),
            _warnings(facts),
            *([_target(facts, plots)] if facts["target"] else []),
            *([_timeseries(facts, plots)] if facts.get("timeseries") else []),
            _quick_model(facts),
            _columns(facts, plots),
            _correlations(facts, plots),
            *([_scatter(plots)] if plots.get("scatter") else []),
            _missing(facts, plots),
        ]
        figures = _FIGURES.get()
    finally:
        _FIGURES.reset(token)
    sections = [s for s in sections if s]
    last = sections[-1]
    sections[-1] = Section(last.title, last.body + _script(figures))
    return render(
        f"Profile of {facts['title']}",
        sections,
        subtitle=f"{counted(facts['rows'], 'row')} × {counted(facts['columns'], 'column')}",
        toc=True,
        plotly_bundle="cartesian",
    )


def _section(title: str, body: str) -> Section:
    return Section(title, body)


def _sample_note(facts: dict) -> str:
    sample = facts["sample"]
    if not sample["sampled"]:
        return f"Every statistic and plot uses all rows ({counted(sample['of'], 'row')})."
    return (
        f"Statistics in the column tables, Pearson correlations, duplicates and class counts use "
        f"all {sample['of']:,} rows. Plots, Spearman correlations, single-feature power and the "
        f"quick model use a uniform random sample of {counted(sample['rows'], 'row')} "
        f"(limit {sample['limit']:,}, seed {sample['seed']})."
    )


def _overview(facts: dict) -> Section:
    target = facts["target"]
    values = {
        "Data set": facts["title"],
        "Rows": f"{facts['rows']:,}",
        "Columns": f"{facts['columns']} ("
        + ", ".join(f"{n} {t}" for t, n in sorted(facts["types"].items()))
        + ")",
        "Missing cells": f"{facts['missing_cells']:,} ({percent(facts['missing_cells_pct'])})",
        "Duplicated rows": f"{facts['duplicate_rows']:,} ({percent(facts['duplicate_rows_pct'])})",
        "Target": f"{target['name']} ({target['problem_type'] or 'a single value'})"
        if target
        else "none",
        "Warnings": markupsafe.Markup(
            f'<span class="badge {"warn" if facts["warnings"] else "good"}">'
            f"{len(facts['warnings'])}</span>"
        ),
        "Profiled in": f"{facts['seconds']:.1f} s",
    }
    return _section("Overview", fields(values) + note(_sample_note(facts)))


def _warnings(facts: dict) -> Section:
    if not facts["warnings"]:
        return _section("Warnings", note("No warnings."))
    rows = [[w["kind"], ", ".join(w["columns"]), w["message"]] for w in facts["warnings"]]
    return _section(
        f"Warnings ({len(rows)})",
        table(["warning", "columns", "evidence"], rows)
        + note("The rules and thresholds are listed in docs/profiling.md."),
    )


def _quick_model(facts: dict) -> Section:
    quick = facts["quick_model"]
    if quick["status"] != "ok":
        return _section("Quick model", note(f"Skipped: {quick['reason']}."))
    values = {
        "Model": "LightGBM, " + ", ".join(f"{k}={v}" for k, v in quick["settings"].items()),
        "Validation": f"{quick['folds']}-fold cross-validation on "
        f"{counted(quick['rows'], 'sample row')}",
        "Features": quick["features"],
    }
    for name, score in quick["metrics"].items():
        values[name] = f"{score['mean']:.4f} ± {score['std']:.4f}"
    top = quick["top_features"][::-1]
    fig = _Figure(
        _trace(
            "bar",
            x=[t["importance"] for t in top],
            y=[t["column"] for t in top],
            orientation="h",
            marker_color=_BLUE,
        )
    )
    fig.update_layout(title="Top features (share of total gain)", xaxis_title="importance")
    return _section(
        "Quick model",
        grid(fields(values), _fig(fig, 60 + 22 * len(top)))
        + note(
            "A fast baseline to say how much signal the features hold, not a tuned model: "
            "train with 'kiln train' for a real estimate."
        ),
    )


def _box_trace(name: str, box: dict, colour: str = _BLUE, *, horizontal: bool = False):
    return _trace(
        "box",
        name=name,
        orientation="h" if horizontal else None,
        **({"y": [name]} if horizontal else {"x": [name]}),
        q1=[box["q1"]],
        median=[box["median"]],
        q3=[box["q3"]],
        lowerfence=[box["lowerfence"]],
        upperfence=[box["upperfence"]],
        mean=[box["mean"]] if box.get("mean") is not None else None,
        marker_color=colour,
        boxpoints=False,
    )


def _histogram(hist: dict, title: str, colour: str = _BLUE):
    edges = hist["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    fig = _Figure(
        _trace(
            "bar",
            x=centres,
            y=hist["counts"],
            width=edges[1] - edges[0],  # equal-width bins
            marker_color=colour,
            opacity=0.75,
            name="count",
        )
    )
    if "density_x" in hist:
        fig.add_trace(
            _trace(
                "scatter",
                x=hist["density_x"],
                y=hist["density_y"],
                mode="lines",
                line_color=_RED,
                name="density (KDE)",
            )
        )
    fig.update_layout(title=title, showlegend=False, bargap=0)
    return fig


def _column_block(name: str, stats: dict, plots: dict) -> str:
    rows = [
        [
            _stat_label(key, label, stats),
            percent(stats[key]) if key in _PERCENT_STATS else stats[key],
        ]
        for key, label in _STAT_ROWS
        if key in stats and stats[key] is not None
    ]
    figures = []
    if stats["type"] == NUMERIC:
        hist = plots["numeric"].get(name)
        if hist:
            figures.append(_fig(_histogram(hist, "histogram and density")))
        if stats["q1"] is not None:
            box = {
                "q1": stats["q1"],
                "median": stats["median"],
                "q3": stats["q3"],
                "lowerfence": stats["whisker_low"],
                "upperfence": stats["whisker_high"],
                "mean": stats["mean"],
            }
            fig = _Figure(_box_trace(name, box, horizontal=True))
            fig.update_layout(
                title="box plot (all rows; whiskers at 1.5 IQR)",
                showlegend=False,
                yaxis_showticklabels=False,
            )
            box_html = _fig(fig, 150)
            figures = [figures[0] + box_html] if figures else [box_html]
    elif stats["top_values"]:
        top = stats["top_values"]
        labels = [str(v["value"]) for v in top]
        counts = [v["count"] for v in top]
        other = stats["count"] - sum(counts)
        if other > 0:
            labels.append(f"(other {counted(stats['distinct'] - len(top), 'value')})")
            counts.append(other)
        if stats["missing"]:
            labels.append("(missing)")
            counts.append(stats["missing"])
        fig = _Figure(
            _trace("bar", x=counts[::-1], y=labels[::-1], orientation="h", marker_color=_BLUE)
        )
        fig.update_layout(title="most frequent values (all rows)")
        figures.append(_fig(fig, 80 + 24 * len(labels)))
    if stats["type"] != NUMERIC and stats["top_values"]:
        top_table = table(
            ["value", "count", "%"],
            [[v["value"], v["count"], percent(v["pct"])] for v in stats["top_values"]],
        )
        rows_html = table(["statistic", "value"], rows) + top_table
    else:
        rows_html = table(["statistic", "value"], rows)
    heading = (
        f'<h3 style="font-size:15px;margin:18px 0 6px">{html.escape(name)} '
        f'<span class="badge">{html.escape(stats["type"])}</span> '
        f'<span class="note">{html.escape(stats["dtype"])}</span></h3>'
    )
    return heading + grid(rows_html, *figures)


def _stat_label(key: str, label: str, stats: dict) -> str:
    """The label of a statistic; a boolean column of words names its true word: true ("yes")."""
    if key == "true" and isinstance(stats.get("true_value"), str):
        return f'true ("{stats["true_value"]}")'
    return label


def _columns(facts: dict, plots: dict) -> Section:
    body = "".join(
        _column_block(name, stats, plots) for name, stats in facts["column_stats"].items()
    )
    return _section("Columns", note(_sample_note(facts)) + body)


def _heatmap(matrix, labels, title, *, signed: bool = True):
    fig = _Figure(
        _trace(
            "heatmap",
            z=matrix,
            x=labels,
            y=labels,
            zmin=-1 if signed else 0,
            zmax=1,
            colorscale="RdBu" if signed else "Blues",
            reversescale=signed,
            text=[[("" if v is None else f"{v:.2f}") for v in row] for row in matrix],
            texttemplate="%{text}" if len(labels) <= 15 else None,
            hovertemplate="%{y} × %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, yaxis_autorange="reversed")
    return fig


def _correlations(facts: dict, plots: dict) -> Section:
    corr = facts["correlations"]
    labels = corr["columns"]
    if len(labels) < 2:
        return _section(
            "Correlations",
            note("Fewer than two non-constant numeric columns.") + _associations(facts),
        )
    height = max(380, 160 + 22 * len(labels))
    pairs = [w for w in facts["warnings"] if w["kind"] == "high-correlation"]
    body = grid(
        _fig(_heatmap(corr["pearson"], labels, "Pearson r (all rows)"), height),
        _fig(_heatmap(corr["spearman"], labels, "Spearman ρ (sample)"), height),
    )
    if pairs:
        body += table(
            ["column", "column", "Pearson r", "Spearman ρ"],
            [[*w["columns"], w["evidence"]["pearson"], w["evidence"]["spearman"]] for w in pairs],
        )
    body += note("Numeric columns only, pairwise-complete rows.")
    return _section("Correlations", body + _associations(facts))


def _associations(facts: dict) -> str:
    """Cramér's V between categorical columns, and the strongly associated pairs."""
    from markupsafe import Markup

    associations = facts.get("associations") or {}
    labels = associations.get("columns") or []
    if len(labels) < 2:
        return Markup("")
    height = max(380, 160 + 22 * len(labels))
    body = _fig(
        _heatmap(associations["cramers_v"], labels, "Cramér's V (sample)", signed=False), height
    )
    pairs = [w for w in facts["warnings"] if w["kind"] == "high-association"]
    if pairs:
        body += table(
            ["column", "column", "Cramér's V"],
            [[*w["columns"], w["evidence"]["cramers_v"]] for w in pairs],
        )
    return body + note(
        "Categorical and boolean columns with at most 50 values; bias-corrected Cramér's V, "
        "missing values as a category of their own."
    )


def _scatter(plots: dict) -> Section:
    scatter = plots["scatter"]
    columns = scatter["columns"]
    marker = dict(size=3, opacity=0.5, color=_BLUE)
    if "target" in scatter:
        target = scatter["target"]
        if all(isinstance(v, int | float) or v is None for v in target) and len(set(target)) > 20:
            marker |= dict(color=target, colorscale="Viridis", showscale=True)
        else:
            # Class indices with a stepped colour scale: far shorter than a colour per point.
            levels = sorted({str(v) for v in target})
            codes = [levels.index(str(v)) for v in target]
            steps = [_PALETTE[i % len(_PALETTE)] for i in range(len(levels))]
            n = len(steps)
            scale = [[edge, steps[i]] for i in range(n) for edge in (i / n, (i + 1) / n)]
            marker |= dict(color=codes, colorscale=scale, cmin=-0.5, cmax=len(levels) - 0.5)
    # The lower triangle as scatter panels on their own axes: plotly's "splom" trace is not in
    # the cartesian bundle the report inlines (1.5 MB instead of 4.8 MB).
    fig = _Figure()
    k = len(columns) - 1
    gap = 0.04
    width = (1 - gap * (k - 1)) / k
    panel = 0
    for i in range(1, len(columns)):
        for j in range(i):
            panel += 1
            fig.add_trace(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": scatter["values"][columns[j]],
                    "y": scatter["values"][columns[i]],
                    "xaxis": f"x{panel}",
                    "yaxis": f"y{panel}",
                    "marker": _expand(marker) | ({} if panel == 1 else {"showscale": False}),
                    "showlegend": False,
                    "hovertemplate": f"{columns[j]} %{{x}}<br>{columns[i]} %{{y}}<extra></extra>",
                }
            )
            left, top = j * (width + gap), 1 - (i - 1) * (width + gap)
            fig.layout[f"xaxis{panel}"] = {
                "domain": [left, left + width],
                "anchor": f"y{panel}",
                "title": {"text": columns[j] if i == k else ""},
            }
            fig.layout[f"yaxis{panel}"] = {
                "domain": [top - width, top],
                "anchor": f"x{panel}",
                "title": {"text": columns[i] if j == 0 else ""},
            }
    size = 160 * len(columns) + 80
    fig.update_layout(height=size, title="Scatter-plot matrix")
    return _section(
        "Scatter-plot matrix",
        _fig(fig, size)
        + note(
            f"The {len(columns)} numeric columns with the strongest Pearson correlation to "
            f"another column; {counted(scatter['points'], 'randomly sampled row')}"
            + (", coloured by the target." if "target" in scatter else ".")
        ),
    )


def _target(facts: dict, plots: dict) -> Section:
    target = facts["target"]
    target_plots = plots.get("target", {})
    parts = []
    if "classes" in target:
        classes = target["classes"]
        fig = _Figure(
            _trace(
                "bar",
                x=[str(c["value"]) for c in classes],
                y=[c["count"] for c in classes],
                marker_color=_BLUE,
                text=[percent(c["pct"]) for c in classes],
                textposition="outside",
            )
        )
        fig.update_layout(title=f"{target['name']}: class counts (all rows)")
        parts.append(
            grid(
                fields(
                    {
                        "Problem type": target["problem_type"],
                        "Classes": len(classes),
                        "Missing target": target["missing"],
                    }
                ),
                _fig(fig),
            )
        )
    elif target_plots.get("histogram"):
        stats = target["stats"]
        parts.append(
            grid(
                fields({"Problem type": "regression", "Missing target": target["missing"]} | stats),
                _fig(_histogram(target_plots["histogram"], f"{target['name']}: distribution")),
            )
        )
    if target.get("too_many_classes"):
        parts.append(note("The target has too many classes for per-class plots."))
    power = target.get("feature_power") or []
    if power:
        parts.append("<h3 style='font-size:15px'>Single-feature power</h3>")
        parts.append(
            _table_of_filled_columns(
                ["feature", "measure", "value", "ROC-AUC", "|Spearman ρ|"],
                [
                    [p["column"], p["measure"], p["value"], p.get("roc_auc"), p.get("abs_spearman")]
                    for p in power
                ],
            )
        )
        parts.append(
            note(
                "On the sample: accuracy skill is (accuracy − majority share) / (1 − majority "
                "share) when predicting the majority class of each feature bin or category; η² "
                "is the share of the target's variance explained by the feature's group means. "
                "Near 1 means the feature alone predicts the target (possible leakage)."
            )
        )
    figures = []
    for feature, data in target_plots.get("features", {}).items():
        if not data:
            continue
        figures.append(_feature_figure(feature, target["name"], data))
    if figures:
        parts.append("<h3 style='font-size:15px'>Each feature against the target (sample)</h3>")
        parts.append(grid(*figures))
    return _section(f"Target: {target['name']}", "".join(parts))


def _table_of_filled_columns(columns: list[str], rows: list[list]) -> str:
    """A table without the columns that are empty in every row (ROC-AUC for a regression
    target, |Spearman ρ| for a classification one)."""
    keep = [i for i in range(len(columns)) if any(row[i] is not None for row in rows)]
    return table([columns[i] for i in keep], [[row[i] for i in keep] for row in rows])


def _feature_figure(feature: str, target: str, data: dict) -> str:
    if data["kind"] == "box":
        fig = _Figure(
            *[
                _box_trace(name, box, _PALETTE[i % len(_PALETTE)])
                for i, (name, box) in enumerate(data["groups"].items())
            ]
        )
        fig.update_layout(title=f"{feature} by {target}", showlegend=False)
        return _fig(fig)
    if data["kind"] == "contingency":
        counts = data["counts"]
        shares = [[c / (sum(row) or 1) for c in row] for row in counts]
        fig = _Figure(
            _trace(
                "heatmap",
                z=shares,
                x=data["columns"],
                y=data["rows"],
                colorscale="Blues",
                reversescale=True,
                zmin=0,
                zmax=1,
                text=[[f"{c:,}" for c in row] for row in counts],
                texttemplate="%{text}",
                hovertemplate=f"{feature}=%{{y}}, {target}=%{{x}}: rows %{{text}} "
                "(%{z:.1%} of the row)<extra></extra>",
            )
        )
        fig.update_layout(title=f"{feature} × {target} (counts; colour: share of row)")
        return _fig(fig, 120 + 26 * len(data["rows"]))
    fig = _Figure(
        _trace(
            "heatmap",
            x=data["x"],
            y=data["y"],
            z=data["counts"],
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(title=f"{target} against {feature} (binned counts)")
    return _fig(fig)


def _missing(facts: dict, plots: dict) -> Section:
    missing = plots.get("missing") or {}
    if not missing:
        return _section("Missing values", note("No missing values."))
    stats = facts["column_stats"]
    columns = missing["columns"]
    bar = _Figure(
        _trace("bar", x=columns, y=[stats[c]["missing_pct"] for c in columns], marker_color=_RED)
    )
    bar.update_layout(title="missing % per column (all rows)", yaxis_title="%")
    pattern = _Figure(
        _trace(
            "heatmap",
            z=missing["block_shares"],
            x=columns,
            colorscale="Reds",
            zmin=0,
            zmax=1,
            hovertemplate="%{x}, block %{y}: %{z:.1%} missing<extra></extra>",
        )
    )
    pattern.update_layout(
        title="missing share by row block (sample, in table order)",
        yaxis_title="row block",
        yaxis_autorange="reversed",
    )
    patterns = table(
        ["missing together", "rows (sample)"],
        [[", ".join(p["missing"]), p["rows"]] for p in missing["patterns"]],
    )
    return _section(
        "Missing values",
        grid(_fig(bar), _fig(pattern, 360))
        + "<h3 style='font-size:15px'>Most frequent missing-value patterns</h3>"
        + patterns
        + note(
            "The pattern heatmap splits the sample, in table order, into consecutive blocks and "
            "shows each column's missing share per block: stripes show rows missing together."
        ),
    )


TIMESERIES_ROWS = 20  # per-series rows shown: the most gaps first, then the shortest
_SERIES_COLUMNS = (
    "series",
    "start",
    "end",
    "length",
    "missing_steps",
    "missing_values",
    "mean",
    "std",
    "zeros",
    "trend_strength",
    "seasonal_strength",
)


def _timeseries(facts: dict, plots: dict) -> Section:
    """Frequency, season, lengths, gaps, hints, the per-series table and a few series."""
    series = facts["timeseries"]
    options = series.get("options") or {}
    length = series["length"]
    values = {
        "Series": f"{series['series']:,}"
        + (f" (id: {', '.join(options['id'])})" if options.get("id") else " (one, no id)"),
        "Time column": options.get("timestamp"),
        "Target": options.get("target"),
        "Frequency": series["frequency"] + (" (given)" if options.get("frequency") else ""),
        "Season": f"{series['season_length']} steps",
        "Length": f"{length['min']:,} to {length['max']:,} steps (median {length['median']:g})",
        "Series with gaps": f"{series['series_with_gaps']:,}",
    }
    rows = sorted(series["per_series"], key=lambda r: (-r["missing_steps"], r["length"]))
    shown = rows[:TIMESERIES_ROWS]
    fig = _Figure(
        *[
            _trace("scatter", x=values_["x"], y=values_["y"], mode="lines", name=name)
            for name, values_ in (plots.get("timeseries") or {}).items()
        ]
    )
    fig.update_layout(title="The longest series (their last values)", yaxis_title="target")
    body = (
        fields(values)
        + (bullets(series["hints"]) if series["hints"] else note("No hints."))
        + _fig(fig, 340)
        + table(list(_SERIES_COLUMNS), [[r.get(c) for c in _SERIES_COLUMNS] for r in shown])
        + note(
            f"{len(shown)} of {counted(series['series'], 'series', 'series')}: the most missing "
            "steps first, then the shortest. Trend and seasonal strength (0 to 1) come from an "
            "STL decomposition of up to 200 series; the whole table is in the profile's JSON."
        )
    )
    return _section("Time series", body)
