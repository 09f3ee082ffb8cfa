"""ws.lineage.search: records by name, id prefix and reference, grouped by kind."""

from __future__ import annotations

import pytest

from helpers import ON_BOTH_STORES
from kiln.errors import ConfigError


def test_search_finds_each_kind_by_name_id_and_reference(trained):
    workspace, result = trained
    found = workspace.lineage.search("chur")
    assert "churn:1" in [hit["ref"] for hit in found["datasets"]]
    assert found["model_groups"][0]["href"] == "#/models/churn"
    assert found["endpoints"] == [{"name": "churn", "href": "#/endpoints/churn"}]
    by_job = workspace.lineage.search(result.job.id[:9])
    assert [hit["id"] for hit in by_job["jobs"]] == [result.job.id]
    by_model = workspace.lineage.search(result.model.id)
    assert by_model["model_versions"][0]["href"] == "#/models/churn/1"
    by_ref = workspace.lineage.search("churn:1")
    assert by_ref["datasets"][0]["href"] == "#/data/churn/1"
    assert by_ref["model_versions"][0]["ref"] == "churn:1"
    nothing = workspace.lineage.search("zzz%")  # % is literal
    assert all(hits == [] for hits in nothing.values())
    assert len(workspace.lineage.search("churn", limit=1)["datasets"]) == 1


@ON_BOTH_STORES
def test_search_by_prefix_and_reference_on_both_stores(ws):
    import pandas as pd

    made = ws.data.ingest(pd.DataFrame({"x": [1, 2]}), name="tiny_data")
    found = ws.lineage.search(made.id[:6])
    assert [hit["ref"] for hit in found["datasets"]] == ["tiny_data:1"]
    assert [hit["ref"] for hit in ws.lineage.search("tiny_data:1")["datasets"]] == ["tiny_data:1"]
    assert [hit["ref"] for hit in ws.lineage.search("ny_d")["datasets"]] == ["tiny_data:1"]


def test_an_empty_search_is_refused(ws):
    for q in ("", "   "):
        with pytest.raises(ConfigError) as info:
            ws.lineage.search(q)
        assert info.value.code == "search.empty-query"
    with pytest.raises(ConfigError, match="1 to 100"):
        ws.lineage.search("x", limit=101)
