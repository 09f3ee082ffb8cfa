"""What an endpoint's variants did: the comparison of live variants and the shadow report."""

from __future__ import annotations

from pathlib import Path

from kiln.endpoints._metrics import DIFFERENCE_BOUNDS, LATENCY_BOUNDS, VariantStats
from kiln.reports import Section, bullets, fields, figure, grid, note, render, table, write

__all__ = ["shadow_report", "shadow_report_page"]


def shadow_report(
    endpoint: str, shadow: dict, stats: dict[str, VariantStats], *, out: str | Path, window: str
) -> Path:
    """An HTML page on how the shadow variant answered the copies of live traffic, written to
    ``out`` (its plotly.js in a file beside it)."""
    return write(out, shadow_report_page(endpoint, shadow, stats, window=window))


def shadow_report_page(
    endpoint: str, shadow: dict, stats: dict[str, VariantStats], *, window: str
) -> str:
    """The shadow report as one self-contained page (plotly.js inlined): what a server answers
    without writing a file."""
    import plotly.graph_objects as go

    mine = stats.get(shadow["name"], VariantStats(shadow["name"]))
    summary = mine.to_dict().get("shadow_comparison") or {}
    live = [s for s in stats.values() if s.role == "live"]
    sections = [
        Section(
            "Summary",
            fields(
                {
                    "endpoint": endpoint,
                    "shadow variant": f"{shadow['name']} ({shadow['model']})",
                    "sample": f"{shadow.get('sample', 1.0):.0%} of live requests",
                    "window": window,
                    "requests compared": summary.get("compared", 0),
                    "agreement rate": summary.get("agreement_rate"),
                    "shadow errors": summary.get("shadow_errors", 0),
                    "live requests": sum(s.invocations for s in live),
                    "live errors": sum(s.errors_4xx + s.errors_5xx for s in live),
                }
            )
            + (
                ""
                if summary.get("compared")
                else note(
                    "No request has been copied to the shadow yet: send traffic to the endpoint "
                    "while 'kiln serve' runs."
                )
            ),
        )
    ]
    difference = mine.comparison.get("probability_difference")
    latency_rows = []
    shadow_latency = [mine.latency_ms(q / 100) for q in (50, 90, 99)]
    live_histogram = mine.comparison.get("live_latency")
    live_latency = [
        None if live_histogram is None else _ms(live_histogram.quantile(q / 100))
        for q in (50, 90, 99)
    ]
    latency_rows = [["live (same requests)", *live_latency], ["shadow", *shadow_latency]]
    figures = []
    if difference is not None and difference.count:
        labels = [f"≤ {b:g}" for b in DIFFERENCE_BOUNDS] + [f"> {DIFFERENCE_BOUNDS[-1]:g}"]
        figures.append(
            figure(
                go.Figure(go.Bar(x=labels, y=difference.counts)).update_layout(
                    title="Largest difference per request (probability, or relative value)",
                    xaxis_title="difference",
                    yaxis_title="requests",
                ),
                height=320,
                compact=True,
            )
        )
    if mine.model_latency.count:
        labels = [f"≤ {b * 1000:g} ms" for b in LATENCY_BOUNDS] + ["more"]
        fig = go.Figure()
        if live_histogram is not None:
            fig.add_bar(x=labels, y=live_histogram.counts, name="live")
        fig.add_bar(x=labels, y=mine.model_latency.counts, name="shadow")
        figures.append(
            figure(
                fig.update_layout(title="Model latency", barmode="group", yaxis_title="requests"),
                height=320,
                compact=True,
            )
        )
    sections.append(
        Section(
            "Latency (ms)",
            table(["", "p50", "p90", "p99"], latency_rows) + grid(*figures),
        )
    )
    sections.append(
        Section(
            "How to read this",
            bullets(
                [
                    "Each sampled live request was scored again by the shadow model after the "
                    "live answer was sent; the shadow's answer was never returned.",
                    "Agreement: every row got the same class (classification), or a value within "
                    "1% of the live one (regression).",
                    "Promote the shadow with 'kiln endpoints promote ENDPOINT VARIANT "
                    "[--strategy canary:10%:5m]'.",
                ]
            ),
        )
    )
    return render(
        f"Shadow test of {shadow['name']} on {endpoint}",
        sections,
        subtitle=f"{shadow['model']} beside the live variants",
        plotly_bundle="cartesian",
    )


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)
