"""The HTML report: self-contained, small, drawn from aggregates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import plotly_figures as figures
from helpers import report_page
from kiln.profile import profile


def test_report_is_self_contained_and_has_every_section(churn_profile, tmp_path):
    path = churn_profile.write_html(tmp_path / "profile.html")
    page = report_page(path)  # plotly.js beside it, so the page opens offline
    from kiln.reports._html import _plotly_js, library_file_name

    assert "cartesian - minified" in _plotly_js("cartesian")[:200]  # the 1.5 MB bundle
    library = tmp_path / library_file_name(_plotly_js("cartesian"))
    assert library.read_text("utf-8") == _plotly_js("cartesian")
    assert "http" not in page.split("</head>")[1]
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
    assert len(page.encode()) < 2_000_000
    assert not [f for f in drawn if any(t["type"] not in CARTESIAN for t in f[1])]


# The trace types plotly's cartesian bundle draws (the report inlines that bundle).
CARTESIAN = {"bar", "box", "heatmap", "histogram", "scatter"}


def test_a_wide_table_still_makes_a_small_report():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({f"n{i}": rng.normal(size=2000) for i in range(100)})
    wide = wide.join(pd.DataFrame({f"c{i}": rng.choice(list("abcdef"), 2000) for i in range(50)}))
    wide["y"] = rng.integers(0, 2, 2000)
    assert len(profile(wide, target="y", model=False).to_html().encode()) < 5_000_000


def test_report_size_does_not_grow_with_rows(churn):
    small = profile(churn.iloc[:2000], target="churn", title="t", model=False).to_html()
    big_frame = pd.concat([churn] * 5, ignore_index=True)
    big_frame["tenure"] = big_frame["tenure"] + np.arange(len(big_frame)) % 3
    big = profile(big_frame, target="churn", title="t", sample_rows=5_000, model=False).to_html()
    from kiln.reports._html import _plotly_js

    plotly_bytes = len(_plotly_js("cartesian"))
    extra_small, extra_big = len(small) - plotly_bytes, len(big) - plotly_bytes
    assert extra_big < 250_000
    assert extra_big < 1.5 * extra_small
    scatter = next(f for f in figures(big) if f[2]["title"]["text"] == "Scatter-plot matrix")
    assert len(scatter[1]) == 10  # 5 columns: the 10 panels below the diagonal
    assert all(len(t["x"]) <= 1_000 and len(t["y"]) <= 1_000 for t in scatter[1])


def test_user_text_is_escaped():
    frame = pd.DataFrame({"</script><b>x": ["<i>a</i>", "b"] * 15, "y": range(30)})
    page = profile(frame, title="<t>").to_html()
    assert "</script><b>x" not in page and "<i>a</i>" not in page
    assert "&lt;/script&gt;&lt;b&gt;x" in page
