"""Paging and reference bounds: numbers past what the database holds are the caller's mistake
(a 400 naming the value), not a driver's overflow (a 500)."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError
from kiln.refs import parse_ref
from kiln.store import check_page


def test_an_offset_past_a_64_bit_integer_is_refused():
    with pytest.raises(ConfigError) as refused:
        check_page(50, 10**19)
    assert refused.value.code == "page.bad-offset"
    assert "10000000000000000000" in str(refused.value)


def test_a_workspace_list_with_a_huge_offset_is_refused(ws):
    with pytest.raises(ConfigError) as refused:
        ws.data.page(offset=2**63)
    assert refused.value.code == "page.bad-offset"


@pytest.mark.parametrize("ref", ["churn:99999999999999999999999", "churn:²", "churn@٣"])
def test_a_version_that_is_no_plain_64_bit_number_is_an_invalid_reference(ref):
    with pytest.raises(ConfigError) as refused:
        parse_ref(ref, what="data set")
    assert refused.value.code == "name.invalid-ref"


def test_a_search_text_past_500_characters_is_refused(ws):
    with pytest.raises(ConfigError) as refused:
        ws.data.page(q="a" * 60_000)
    assert refused.value.code == "page.long-search"
    assert ws.data.page(q="a" * 500).total == 0
