"""HTML reports with plotly figures that open offline.

``render`` makes one self-contained page (plotly.js inlined). ``write`` puts plotly.js in a file
of its own beside the page, named by its content, and has the page load it from there: every
report written to one folder (a workspace's reports/) shares one copy of the 1.5-4.8 MB library,
and each page is only its own figures and tables."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

__all__ = [
    "Section",
    "bullets",
    "compact_template",
    "fields",
    "figure",
    "grid",
    "library_digest",
    "note",
    "render",
    "split_library",
    "table",
    "write",
]

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
 .note { color: #52606d; font-size: 13px; }
 .grid { display: grid; gap: 12px;
         grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); }
 .grid > div { min-width: 0; }
 .fields th { text-align: left; background: none; color: #52606d; font-weight: 600; }
 .fields td { text-align: left; } ul { margin: 6px 0; padding-left: 22px; } li { margin: 3px 0; }
 .badge { display: inline-block; padding: 2px 10px; border-radius: 10px; font-weight: 600;
          background: #e4e7eb; } .badge.good { background: #d5f5e3; color: #0f7b3f; }
 .badge.bad { background: #fde2e1; color: #c0362c; } .badge.warn { background: #fff1cc;
          color: #8a5a00; }
 nav { font-size: 13px; margin: 12px 0 0; } nav a { color: #3e4c59; margin-right: 14px; }
</style>
{% if plotly_js %}<script data-kiln-library="plotly">{{ plotly_js }}</script>{% endif %}
</head><body>
<header><h1>{{ title }}</h1><p>{{ subtitle }}</p></header>
<main>
{% if toc %}<nav>{% for section in sections %}<a href="#s{{ loop.index }}">{{ section.title }}</a>
{% endfor %}</nav>{% endif %}
{% for section in sections %}<section id="s{{ loop.index }}"><h2>{{ section.title }}</h2>
{{ section.body }}</section>
{% endfor %}</main>
{% if plotly_js %}<script>window.addEventListener("load", function () {
  document.querySelectorAll(".js-plotly-plot").forEach(function (p) { Plotly.Plots.resize(p); });
});</script>{% endif %}
</body></html>
"""


@dataclass(frozen=True)
class Section:
    title: str
    body: str  # HTML, already escaped where it holds user text


@cache
def _plotly_js(bundle: str = "full") -> str:
    """plotly.js to inline. ``cartesian`` is plotly's own partial bundle (bar, box, heatmap,
    histogram, scatter, ...; 1.5 MB instead of 4.8 MB), vendored from npm
    (plotly.js-cartesian-dist-min, the version the plotly package bundles, MIT licence)."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    if bundle == "full":
        return get_plotlyjs()
    text = (Path(__file__).parent / "plotly-cartesian.min.js").read_text(encoding="utf-8")
    if f"v{get_plotlyjs_version()}" not in text[:200]:
        return get_plotlyjs()  # another plotly release: its figures need its own plotly.js
    return text


# The layout part of plotly's "plotly_white" template, without the per-trace defaults and the
# polar/ternary/geo/3-D settings: every figure embeds its template, and the full one is ~7 kB.
_COMPACT_LAYOUT_KEYS = (
    "autotypenumbers",
    "colorway",
    "font",
    "hovermode",
    "hoverlabel",
    "paper_bgcolor",
    "plot_bgcolor",
    "coloraxis",
    "xaxis",
    "yaxis",
    "shapedefaults",
    "annotationdefaults",
    "title",
)


@cache
def compact_template() -> dict:
    """The small plotly layout template of compact figures (also used by the profile page)."""
    import plotly.io as pio

    layout = pio.templates["plotly_white"].layout.to_plotly_json()
    return {"layout": {k: layout[k] for k in _COMPACT_LAYOUT_KEYS if k in layout}}


def figure(fig: Any, *, height: int | None = None, compact: bool = False) -> str:
    """One plotly figure as an HTML fragment (the library is included once by ``render``).

    ``compact=True`` embeds a trimmed copy of the "plotly_white" template (same colours, grid and
    fonts), which keeps reports with many small figures light.
    """
    if height:
        fig.update_layout(height=height)
    template = compact_template() if compact else "plotly_white"
    fig.update_layout(margin=dict(l=50, r=20, t=40, b=40), template=template)
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def table(
    columns: list[str], rows: list[list[Any]], *, classes: dict[int, str] | None = None
) -> str:
    """An HTML table; cells are escaped, floats shown with 4 decimals."""

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
                f'<td class="{css}">{_cell(value)}</td>' if css else f"<td>{_cell(value)}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def fields(values: dict[str, Any]) -> str:
    """A two-column table of labelled values (a record's fields); ``Markup`` values stay HTML."""
    rows = []
    for key, value in values.items():
        shown = value if isinstance(value, markupsafe.Markup) else _cell(value)
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{shown}</td></tr>")
    return f'<table class="fields"><tbody>{"".join(rows)}</tbody></table>'


def bullets(items: list[str]) -> str:
    """An escaped bullet list."""
    return "<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in items) + "</ul>"


def note(text: str) -> str:
    """An escaped paragraph in the muted note style."""
    return f'<p class="note">{html.escape(text)}</p>'


def grid(*fragments: str) -> str:
    """Fragments (figures, tables) side by side, wrapping on narrow screens."""
    return '<div class="grid">' + "".join(f"<div>{f}</div>" for f in fragments if f) + "</div>"


def render(
    title: str,
    sections: list[Section],
    *,
    subtitle: str = "",
    toc: bool = False,
    plotly_bundle: str | None = "full",
) -> str:
    """The whole page; ``toc=True`` adds links to each section under the title.
    ``plotly_bundle="cartesian"`` inlines the smaller plotly.js for pages whose figures are only
    bar, box, heatmap, histogram and scatter charts; ``None`` inlines none, for a page with no
    figure."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    environment = jinja2.Environment(autoescape=True)
    template = environment.from_string(_TEMPLATE)
    return template.render(
        title=title,
        subtitle=f"{subtitle} · generated {stamp} by kiln"
        if subtitle
        else f"generated {stamp} by kiln",
        sections=[Section(s.title, jinja2.utils.markupsafe.Markup(s.body)) for s in sections],
        plotly_js=jinja2.utils.markupsafe.Markup(
            _plotly_js(plotly_bundle) if plotly_bundle else ""
        ),
        toc=toc,
    )


_INLINE_LIBRARY = '<script data-kiln-library="plotly">'


def write(path: str | Path, content: str, *, library: str | None = None) -> Path:
    """Write a page made by ``render`` to ``path``, its plotly.js to a file beside it (named by
    its content, written once per folder), loaded by the page from there. ``library``: the
    plotly.js of a page that ``split_library`` already took it out of."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if library is None:
        content, library = split_library(content)
    if library is not None:
        name = library_file_name(library)
        if not (path.parent / name).exists():
            _write_atomically(path.parent / name, library)
    _write_atomically(path, content)
    return path


def split_library(content: str) -> tuple[str, str | None]:
    """A page made by ``render`` without its inlined plotly.js, which it loads from the file
    ``library_file_name`` names instead (the tag also holds the library's SHA-256), and the
    library; a page without one, and None."""
    import hashlib

    start = content.find(_INLINE_LIBRARY)
    if start < 0:
        return content, None
    end = content.index("</script>", start)
    library = content[start + len(_INLINE_LIBRARY) : end]
    digest = hashlib.sha256(library.encode("utf-8")).hexdigest()
    tag = f'<script src="{library_file_name(library)}" data-sha256="{digest}">'
    return content[:start] + tag + content[end:], library


def join_library(content: str, library: str) -> str:
    """A page from ``split_library`` with its plotly.js ``library`` inlined again, as ``render``
    made it: one self-contained page, for a server to answer without the file beside it."""
    import re

    return re.sub(
        r'<script src="plotly-[0-9a-f]+\.min\.js" data-sha256="[0-9a-f]{64}">',
        lambda _: _INLINE_LIBRARY + library,
        content,
        count=1,
    )


def library_digest(page: str) -> str | None:
    """The SHA-256 of the plotly.js that a page from ``split_library`` loads."""
    import re

    found = re.search(r'<script src="plotly-[0-9a-f]+\.min\.js" data-sha256="([0-9a-f]{64})"', page)
    return found.group(1) if found else None


def library_file_name(library: str) -> str:
    """The file name of a plotly.js text: its content's hash, so that pages written with another
    plotly release load their own."""
    import hashlib

    return f"plotly-{hashlib.sha256(library.encode('utf-8')).hexdigest()[:16]}.min.js"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
