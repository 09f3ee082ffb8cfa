"""An endpoint's configuration sections: each set or removed as a new revision, the others kept,
and an unknown section refused without a change."""

import pytest

from kiln.errors import ConfigError


def test_sections_are_set_and_removed_as_revisions(two_models_copy):
    ws, first, _second = two_models_copy
    assert ws.endpoints.get("churn").config == {}
    revision = ws.endpoints.get("churn").revision
    endpoint = ws.endpoints.set_config("churn", "serverless", {"max_concurrency": 2}, note="sl")
    endpoint = ws.endpoints.set_config("churn", "async", {"max_concurrency": 1})
    assert endpoint.config == {
        "serverless": {"max_concurrency": 2},
        "async": {"max_concurrency": 1},
    }
    assert endpoint.revision == revision + 2 and endpoint.model == first
    assert ws.endpoints.history("churn")[-2]["note"] == "sl"
    endpoint = ws.endpoints.set_config("churn", "serverless", None)
    assert ws.endpoints.get("churn").config == {"async": {"max_concurrency": 1}}
    with pytest.raises(ConfigError, match="'turbo'") as caught:
        ws.endpoints.set_config("churn", "turbo", {})
    assert caught.value.code == "endpoints.bad-config"
    assert ws.endpoints.get("churn").revision == endpoint.revision
