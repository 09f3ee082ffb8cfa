"""The HTML report: self-contained, small, drawn from aggregates."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

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


def _text(page: str) -> str:
    """The page as a reader sees it: no scripts, no tags, entities decoded, spaces collapsed."""
    import html
    import re

    body = re.sub(r"<script>.*?</script>", "", page.split("</head>")[1], flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _tables(page: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every table of the page (the fields tables aside): its header and its rows of cell text."""
    import html
    import re

    found = []
    for match in re.finditer(r"<table>(.*?)</table>", page, re.S):
        head = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", match.group(1))]
        body = match.group(1).split("</thead>")[-1]
        rows = [
            [html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body)
        ]
        found.append((head, rows))
    return found


def _power_table(page: str) -> list[str]:
    return next(head for head, _ in _tables(page) if head[:3] == ["feature", "measure", "value"])


def test_no_table_has_a_column_empty_in_every_row(housing, churn):
    regression = profile(housing, target="price", title="housing", model=False).to_html()
    assert _power_table(regression) == ["feature", "measure", "value", "|Spearman ρ|"]
    binary = profile(churn, target="churn", title="churn", model=False).to_html()
    assert _power_table(binary) == ["feature", "measure", "value", "ROC-AUC"]
    for page in (regression, binary):
        for head, rows in _tables(page):
            for i, column in enumerate(head):
                assert not rows or any(row[i] != "—" for row in rows), (head, column)


def test_counts_agree_with_their_nouns(housing):
    assert housing.duplicated().sum() == 1
    one = profile(housing, title="housing", model=False)
    assert "1 row (0.2 %) repeats an earlier row exactly." in _text(one.to_html())
    two = profile(pd.concat([housing, housing.iloc[:1]]), title="housing", model=False)
    assert "2 rows (0.4 %) repeat an earlier row exactly." in _text(two.to_html())
    stages: list[str] = []
    one_row = profile(housing.iloc[:1][["price"]], title="one", model=False, progress=stages.append)
    single = _text(one_row.to_html())
    assert "1 row × 1 column" in single and "1 rows" not in single
    assert "all rows (1 row)" in single
    assert "sampling 1 of 1 row" in stages


def test_boolean_columns_get_true_counts_not_lengths(housing):
    result = profile(housing, title="housing", model=False)
    driveway = result.columns["driveway"]
    assert driveway["type"] == "boolean" and "mean_length" not in driveway
    assert driveway["true"] == (housing["driveway"] == "yes").sum() == 469
    assert driveway["true_pct"] == pytest.approx(100 * 469 / len(housing), abs=1e-4)
    text = _text(result.to_html())
    block = text[text.index("driveway boolean") : text.index("recroom boolean")]
    assert 'true ("yes") 469 true % 85.9 %' in block and "mean length" not in block
    logical = profile(pd.DataFrame({"flag": [True, False, True, None] * 10}), model=False)
    assert logical.columns["flag"]["true"] == 20  # of 30 non-missing values
    assert logical.columns["flag"]["true_pct"] == pytest.approx(200 / 3, abs=1e-4)


def test_percentages_read_to_one_decimal_and_tiny_shares_are_not_zero(churn):
    frame = churn.copy()
    frame.loc[0, "contract"] = "Three year"  # 1 of 7,043 rows: 0.014 %
    text = _text(profile(frame, title="churn", model=False).to_html())
    assert "Three year 1 < 0.1 %" in text
    assert "Month-to-month 3874 55.0 %" in text
    assert not re.search(r"\d\.\d{2,} ?%", text), re.search(r".{40}\d\.\d{2,} ?%", text)
