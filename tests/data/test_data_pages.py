"""ws.data.page / versions / query_page: server-side pages of the lake for Studio."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import ON_BOTH_STORES
from kiln.errors import ConfigError, DataError, NotFound


@pytest.fixture
def lake(ws):
    for index in range(3):
        ws.data.ingest(pd.DataFrame({"x": range(index + 1)}), name="numbers")
    ws.data.ingest(pd.DataFrame({"y": range(10)}), name="big")
    ws.data.ingest(pd.DataFrame({"z": ["a_b", "ab"]}), name="odd_name")
    return ws


@ON_BOTH_STORES
def test_the_page_of_data_sets_holds_the_latest_version_of_each(lake):
    page = lake.data.page()
    assert [v.ref for v in page.items] == ["big:1", "numbers:3", "odd_name:1"]
    assert page.total == 3 and page.sort == "name"
    assert [v.ref for v in lake.data.page(sort="-rows", limit=1).items] == ["big:1"]
    second = lake.data.page(sort="-rows", limit=1, offset=1)
    assert [v.ref for v in second.items] == ["numbers:3"] and second.total == 3
    assert [v.ref for v in lake.data.page(q="_").items] == ["odd_name:1"]  # "_" is literal
    with pytest.raises(ConfigError, match="name, created_at, rows"):
        lake.data.page(sort="digest")


def test_versions_are_paged_newest_first(lake):
    page = lake.data.versions("numbers", limit=2)
    assert [v.version for v in page.items] == [3, 2] and page.total == 3
    assert [v.version for v in lake.data.versions("numbers", sort="rows").items] == [1, 2, 3]
    with pytest.raises(NotFound) as info:
        lake.data.versions("nope")
    assert info.value.code == "data.unknown-dataset"


def test_a_query_page_materialises_one_page_and_counts_the_rest(lake):
    page = lake.data.query_page("SELECT y FROM big ORDER BY y DESC", limit=3, offset=4)
    assert page.items == [[5], [4], [3]] and page.total == 10
    assert page.extra == {"columns": ["y"]}
    versions = lake.data.query_page("SELECT count(*) AS n FROM numbers@1 -- the first")
    assert versions.items == [[1]] and versions.total == 1
    with pytest.raises(ConfigError) as info:
        lake.data.query_page("SELECT nope FROM big")
    assert info.value.code == "data.bad-query" and info.value.http_status == 400
    with pytest.raises(DataError) as outside:
        lake.data.query_page("SELECT * FROM read_csv('/etc/passwd')")
    assert outside.value.code == "data.external-access"
    with pytest.raises(ConfigError, match="limit"):
        lake.data.query_page("SELECT 1", limit=0)
    # the whole-frame query still raises a DataError for a bad query, as before
    with pytest.raises(DataError):
        lake.data.query("SELECT nope FROM big")
