"""Multi-model endpoints in the SDK: created and changed by deploy(multi_model=True), settings in
the endpoint's "multi_model" section, no variants, and every variant operation refused."""

import zlib

import pytest

from kiln.endpoints import (
    DEFAULT_MEMORY_BUDGET,
    MEMORY_FACTOR,
    estimated_memory,
    parse_memory_budget,
)
from kiln.errors import ConfigError, KilnError, NotFound, StateError


def test_a_multi_model_endpoint_has_settings_and_no_variants(two_models_copy):
    ws, first, _ = two_models_copy
    endpoint = ws.endpoints.deploy(endpoint="many", multi_model=True)
    assert endpoint.variants == [] and endpoint.revision == 1
    assert endpoint.multi_model == {
        "memory_budget": DEFAULT_MEMORY_BUDGET,
        "groups": None,
        "allow_unapproved": False,
    }
    assert endpoint.to_dict()["model"] is None and endpoint.shares == {}
    with pytest.raises(StateError, match="multi-model endpoint") as caught:
        endpoint.model  # noqa: B018 - the property refuses
    assert caught.value.code == "multimodel.not-supported"
    assert ws.endpoints.health("many") == {"status": "ready"}
    # Given again: the settings named change, the others stay, as the next revision.
    endpoint = ws.endpoints.deploy(
        first, endpoint="many", multi_model=True, memory_budget="1.5GB", groups="churn"
    )
    endpoint = ws.endpoints.deploy(endpoint="many", multi_model=True, memory_budget=10_000)
    assert endpoint.revision == 3
    assert endpoint.multi_model["groups"] == ["churn"]
    assert endpoint.multi_model["memory_budget"] == 10_000
    assert "budget 10000 bytes, groups churn" in ws.endpoints.history("many")[-1]["note"]
    assert [e.name for e in ws.endpoints.list()] == ["churn", "many"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2GB", 2 * 10**9), ("2GiB", 2 * 2**30), ("512 MB", 512 * 10**6), (4096, 4096)],
)
def test_memory_budgets_are_sizes(text, expected):
    assert parse_memory_budget(text) == expected


@pytest.mark.parametrize("budget", ["lots", "0", -5, "2XB"])
def test_a_bad_memory_budget_is_refused(two_models_copy, budget):
    ws, _, _ = two_models_copy
    with pytest.raises(ConfigError, match="is not a size") as caught:
        ws.endpoints.deploy(endpoint="many", multi_model=True, memory_budget=budget)
    assert caught.value.code == "multimodel.bad-budget"
    assert "many" not in ws.endpoints.revisions()


def test_bad_multi_model_deployments_change_nothing(two_models_copy):
    ws, first, second = two_models_copy
    cases = [
        ({"groups": "churn,housing"}, NotFound, "registry.unknown-model", "'housing'"),
        ({"groups": " , "}, ConfigError, "multimodel.bad-groups", "names no model group"),
        ({"variant": "blue"}, ConfigError, "multimodel.not-supported", "--variant"),
        ({"strategy": "canary:10%:1m"}, ConfigError, "multimodel.not-supported", "--strategy"),
    ]
    for options, error, code, words in cases:
        with pytest.raises(error, match=words) as caught:
            ws.endpoints.deploy(endpoint="many", multi_model=True, **options)
        assert caught.value.code == code
    assert "many" not in ws.endpoints.revisions()
    with pytest.raises(StateError, match="already serves churn:1") as caught:
        ws.endpoints.deploy(endpoint="churn", multi_model=True)
    assert caught.value.code == "multimodel.endpoint-has-variants"
    with pytest.raises(ConfigError, match="add --multi-model") as caught:
        ws.endpoints.deploy(first, endpoint="churn", memory_budget="1GB")
    assert caught.value.code == "multimodel.needs-multi-model"
    with pytest.raises(ConfigError, match="Name the model version") as caught:
        ws.endpoints.deploy(endpoint="churn")
    assert caught.value.code == "endpoints.no-model"
    ws.models.reject(second, reason="worse")
    with pytest.raises(StateError, match="worse") as caught:
        ws.endpoints.deploy(second, endpoint="many", multi_model=True)
    assert caught.value.code == "registry.rejected"
    assert "many" not in ws.endpoints.revisions()


def test_a_first_model_must_be_in_the_groups(two_models_copy):
    ws, first, _ = two_models_copy
    ws.endpoints.deploy(endpoint="many", multi_model=True, groups=["churn"])
    # A group of its own, registered without training: the same model file, another name.
    model = ws.models.load(first)
    other = ws.models.register(
        model, group="other", algorithm="lightgbm", target="churn", hyperparameters={}, metrics={}
    )
    with pytest.raises(ConfigError, match="not in the groups") as caught:
        ws.endpoints.deploy(other.ref, endpoint="many", multi_model=True, allow_unapproved=True)
    assert caught.value.code == "multimodel.group-not-served"
    assert ws.endpoints.get("many").revision == 1


def test_variant_operations_are_refused_on_a_multi_model_endpoint(two_models_copy):
    ws, first, second = two_models_copy
    ws.endpoints.deploy(endpoint="many", multi_model=True)
    refused = [
        lambda: ws.endpoints.deploy(first, endpoint="many"),
        lambda: ws.endpoints.deploy(first, endpoint="many", variant="blue"),
        lambda: ws.endpoints.deploy(second, endpoint="many", shadow=True),
        lambda: ws.endpoints.deploy(second, endpoint="many", strategy="canary:10%:1m"),
        lambda: ws.endpoints.update("many", weights="primary=1"),
        lambda: ws.endpoints.promote("many", "shadow"),
        lambda: ws.endpoints.rollback("many"),
        lambda: ws.endpoints.compare("many"),
        lambda: ws.endpoints.shadow_report("many", out="report.html"),
    ]
    for call in refused:
        with pytest.raises(KilnError, match="is a multi-model endpoint") as caught:
            call()
        assert caught.value.code == "multimodel.not-supported"
    assert ws.endpoints.get("many").revision == 1
    assert ws.endpoints.delete("many").name == "many"


def test_the_memory_estimate_is_the_pickle_size_times_the_factor(trained):
    ws, result = trained
    version = result.model
    stored = ws.artifacts.read_bytes(version.digest)
    pickle = zlib.decompress(stored[stored.index(b"\n") + 1 :])
    assert len(pickle) > 2 * len(stored)  # a compressed tree ensemble: the file says too little
    assert estimated_memory(ws, version) == int(len(pickle) * MEMORY_FACTOR)
