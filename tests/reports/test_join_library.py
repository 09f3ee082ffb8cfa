"""A page whose plotly.js was split off (stored beside it) is whole again with join_library: what a
server answers in a sandboxed frame, which cannot fetch the file beside the page."""

from __future__ import annotations

import plotly.graph_objects as go

from kiln.reports import Section, figure, join_library, render, split_library


def test_a_split_page_joined_again_is_the_page_render_made():
    page = render("p", [Section("Chart", figure(go.Figure(go.Bar(x=["a"], y=[1]))))])
    split, library = split_library(page)
    assert library is not None and '<script src="plotly-' in split
    assert join_library(split, library) == page


def test_a_page_without_a_library_tag_is_unchanged():
    assert join_library("<html><body>x</body></html>", "js") == "<html><body>x</body></html>"


def test_a_stored_profile_page_is_self_contained(ws):
    import pandas as pd

    ws.data.ingest(pd.DataFrame({"a": range(50), "b": [i % 3 for i in range(50)]}), name="t")
    stored = ws.profile("t", sample_rows=50, model=False)
    page = stored.page()
    assert "<script src=" not in page and 'data-kiln-library="plotly"' in page
    assert len(page) > stored.html_path.stat().st_size + 1_000_000
