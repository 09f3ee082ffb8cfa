"""The query box (ws.data.query_page) is open to every Studio user: one SELECT, a time limit and a
memory limit, each refusal a ConfigError naming what to do."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from kiln.errors import ConfigError


@pytest.fixture
def small(ws):
    ws.data.ingest(pd.DataFrame({"a": range(2000), "b": [f"x{i}" for i in range(2000)]}), name="t")
    return ws


@pytest.mark.parametrize(
    "sql",
    [
        "SET threads = 64",
        "CREATE TABLE x AS SELECT 1",
        "SELECT 1; SELECT 2",
        "PRAGMA database_list",
        "CALL duckdb_settings()",
    ],
)
def test_only_one_select_runs(small, sql):
    with pytest.raises(ConfigError) as refused:
        small.data.query_page(sql)
    assert refused.value.code == "data.not-a-select"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t WHERE a < 3",
        "WITH s AS (SELECT a FROM t) SELECT count(*) FROM s",
        "FROM t SELECT b LIMIT 2",
        "VALUES (1), (2)",
    ],
)
def test_a_select_in_any_form_runs(small, sql):
    assert small.data.query_page(sql).total >= 1


def test_a_slow_query_is_stopped(small):
    started = time.monotonic()
    with pytest.raises(ConfigError) as refused:
        small.data.query_page("SELECT sum(x.a * y.a * z.a) FROM t x, t y, t z", seconds=0.5)
    assert refused.value.code == "data.query-timeout"
    assert time.monotonic() - started < 10


def test_a_query_is_held_to_the_memory_limit(small):
    # The setting as the query itself sees it: a real out-of-memory test would take gigabytes.
    page = small.data.query_page("SELECT current_setting('memory_limit')")
    assert page.items[0][0] in ("1.8 GiB", "1.9 GiB", "2.0 GiB", "2 GB")


def test_a_page_of_huge_values_is_refused_before_it_is_converted(small):
    with pytest.raises(ConfigError) as refused:
        small.data.query_page("SELECT repeat('x', 1000000) AS s FROM range(100)", limit=100)
    assert refused.value.code == "data.page-too-large"
    assert len(small.data.query_page("SELECT repeat('x', 1000) FROM range(10)").items) == 10
