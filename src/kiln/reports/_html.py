"""Self-contained HTML reports: plotly figures with plotly.js inlined once, so they open offline."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["Section", "figure", "render", "table", "write"]

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
 body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 0;
        color: #1f2933; background: #f7f8fa; }
 header { background: #1f2933; color: #fff; padding: 18px 32px; }
 header h1 { margin: 0; font-size: 22px; }
 header p { margin: 4px 0 0; color: #cbd2d9; font-size: 13px; }
 main { padding: 16px 32px 48px; max-width: 1400px; }
 section { background: #fff; border-radius: 8px; padding: 16px 20px; margin: 16px 0;
           box-shadow: 0 1px 2px rgba(0,0,0,.08); }
 h2 { font-size: 17px; margin: 0 0 10px; }
 table { border-collapse: collapse; font-size: 13px; }
 th, td { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: right; }
 th { background: #f0f2f5; } td:first-child, th:first-child { text-align: left; }
 .pass { color: #0f7b3f; font-weight: 600; } .fail { color: #c0362c; font-weight: 600; }
 .note { color: #52606d; font-size: 13px; } .grid { display: flex; flex-wrap: wrap; gap: 12px; }
 .grid > div { flex: 1 1 560px; min-width: 420px; }
</style>
<script>{{ plotly_js }}</script>
</head><body>
<header><h1>{{ title }}</h1><p>{{ subtitle }}</p></header>
<main>
{% for section in sections %}<section><h2>{{ section.title }}</h2>{{ section.body }}</section>
{% endfor %}</main></body></html>
"""


@dataclass(frozen=True)
class Section:
    title: str
    body: str  # HTML, already escaped where it holds user text


@cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def figure(fig: Any, *, height: int | None = None) -> str:
    """One plotly figure as an HTML fragment (the library is included once by ``render``)."""
    if height:
        fig.update_layout(height=height)
    fig.update_layout(margin=dict(l=50, r=20, t=40, b=40), template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def table(
    columns: list[str], rows: list[list[Any]], *, classes: dict[int, str] | None = None
) -> str:
    """An HTML table; cells are escaped, floats shown with 4 decimals."""

    def cell(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.4f}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            css = (classes or {}).get(i)
            if css == "verdict":
                css = "pass" if value in (True, "pass", "balanced") else "fail"
                value = {True: "pass", False: "fail"}.get(value, value)
            cells.append(
                f'<td class="{css}">{cell(value)}</td>' if css else f"<td>{cell(value)}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(title: str, sections: list[Section], *, subtitle: str = "") -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    environment = jinja2.Environment(autoescape=True)
    template = environment.from_string(_TEMPLATE)
    return template.render(
        title=title,
        subtitle=f"{subtitle} · generated {stamp} by kiln"
        if subtitle
        else f"generated {stamp} by kiln",
        sections=[Section(s.title, jinja2.utils.markupsafe.Markup(s.body)) for s in sections],
        plotly_js=jinja2.utils.markupsafe.Markup(_plotly_js()),
    )


def write(path: str | Path, content: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
    return path
