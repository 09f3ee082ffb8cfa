"""Written reports share one copy of plotly.js per folder, and still open offline."""

from __future__ import annotations

import plotly.graph_objects as go

from helpers import report_page
from kiln.reports import Section, figure, render, write


def _page(title: str, bundle: str = "full") -> str:
    chart = figure(go.Figure(go.Bar(x=["a", "b"], y=[1, 2])))
    return render(title, [Section("Chart", chart)], plotly_bundle=bundle)


def test_reports_in_one_folder_share_one_plotly_file_named_by_its_content(tmp_path):
    first = write(tmp_path / "first.html", _page("first"))
    second = write(tmp_path / "second.html", _page("second"))
    libraries = sorted(p.name for p in tmp_path.glob("plotly-*.min.js"))
    assert len(libraries) == 1
    for path in (first, second):
        assert f'<script src="{libraries[0]}"' in report_page(path)
        assert path.stat().st_size < 100_000  # the 4.8 MB library is not in the page
    # another bundle is another file; a page in another folder gets its own copy
    write(tmp_path / "cartesian.html", _page("third", "cartesian"))
    assert len(list(tmp_path.glob("plotly-*.min.js"))) == 2
    elsewhere = write(tmp_path / "sub" / "page.html", _page("fourth"))
    report_page(elsewhere)
    assert not list(tmp_path.glob(".*partial"))


def test_the_rendered_page_itself_stays_self_contained():
    page = _page("inline")
    assert "plotly.js v" in page[:100_000] and "<script src" not in page
