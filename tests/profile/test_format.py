"""Counts and percentages as the profile writes them for people."""

from __future__ import annotations

import pytest

from kiln.profile._format import counted, percent, share


@pytest.mark.parametrize(
    ("n", "expected"), [(0, "0 rows"), (1, "1 row"), (2, "2 rows"), (1234, "1,234 rows")]
)
def test_counted(n, expected):
    assert counted(n, "row") == expected


def test_counted_with_an_irregular_plural():
    assert counted(1, "query", "queries") == "1 query"
    assert counted(3, "query", "queries") == "3 queries"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0 %"),
        (0.0142, "< 0.1 %"),
        (0.05, "0.1 %"),
        (12.3456, "12.3 %"),
        (85.8974, "85.9 %"),
        (99.96, "> 99.9 %"),
        (100.0, "100 %"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_percent(value, expected):
    assert percent(value) == expected


def test_share():
    assert share(1, 546) == "0.2 %"
    assert share(1, 7043) == "< 0.1 %"
    assert share(0, 0) == "n/a"
