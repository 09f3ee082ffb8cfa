"""The HTML report: self-contained, small, drawn from aggregates."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from kiln.profile import profile


def figures(page: str) -> list:
    match = re.search(r"var F = (\[.*?\]);\n", page, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_report_is_self_contained_and_has_every_section(churn_profile, tmp_path):
    path = churn_profile.write_html(tmp_path / "profile.html")
    page = path.read_text("utf-8")
    from kiln.reports._html import _plotly_js

    assert _plotly_js() in page  # inlined once, so the page opens offline
    rest = page.replace(_plotly_js(), "")
    assert "<script src" not in rest and "http" not in rest.split("</head>")[1]
    for title in (
        "Overview",
        "Warnings",
        "Target: churn",
        "Quick model",
        "Columns",
        "Correlations",
        "Scatter-plot matrix",
        "Missing values",
    ):
        assert f"<h2>{title}" in page, title
    drawn = figures(page)
    titles = " | ".join(f[2].get("title", {}).get("text", "") for f in drawn)
    for expected in (
        "histogram and density",
        "box plot",
        "most frequent values",
        "Pearson r",
        "Spearman",
        "contract × churn",
        "tenure by churn",
        "missing share by row block",
    ):
        assert expected in titles, expected
    assert len(page.encode()) < 5_000_000


def test_report_size_does_not_grow_with_rows(churn):
    small = profile(churn.iloc[:2000], target="churn", title="t", model=False).to_html()
    big_frame = pd.concat([churn] * 5, ignore_index=True)
    big_frame["tenure"] = big_frame["tenure"] + np.arange(len(big_frame)) % 3
    big = profile(big_frame, target="churn", title="t", sample_rows=5_000, model=False).to_html()
    from kiln.reports._html import _plotly_js

    plotly_bytes = len(_plotly_js())
    extra_small, extra_big = len(small) - plotly_bytes, len(big) - plotly_bytes
    assert extra_big < 250_000
    assert extra_big < 1.5 * extra_small
    scatter = next(f for f in figures(big) if f[1][0]["type"] == "splom")
    assert all(len(d["values"]) <= 1_000 for d in scatter[1][0]["dimensions"])


def test_user_text_is_escaped():
    frame = pd.DataFrame({"</script><b>x": ["<i>a</i>", "b"] * 15, "y": range(30)})
    page = profile(frame, title="<t>").to_html()
    assert "</script><b>x" not in page and "<i>a</i>" not in page
    assert "&lt;/script&gt;&lt;b&gt;x" in page
