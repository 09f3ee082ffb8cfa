"""Multi-model endpoints in the server: the request names the model (header or path), models load
on first use and are evicted least recently used under the memory budget, per-model metrics and
capture, and each bad target answered with its status."""

import asyncio

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from kiln.endpoints import estimated_memory
from kiln.serving import create_app
from kiln.serving._cache import EndpointCache
from kiln.serving._multimodel import MultiModels

MODELS = 200
HOLDS = 20
ROW = [{"x1": 1.0, "x2": 2.0}]


def shifted(model, shift: float):
    """The same fitted linear model, its predictions moved by ``shift``: a distinct version
    that answers distinctly, without training it."""
    estimator = model.pipeline[-1]
    estimator.intercept_ = estimator.intercept_ + shift
    return model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A workspace with MODELS versions of a tiny linear model, ``tiny:N`` answering the base
    prediction plus N - 1, and the multi-model endpoint 'many' (any version, a budget that
    holds HOLDS of them)."""
    import kiln

    ws = kiln.Workspace.init(tmp_path_factory.mktemp("multimodel") / "ws")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=60), "x2": rng.normal(size=60)})
    frame["y"] = 3 * frame["x1"] - frame["x2"] + rng.normal(scale=0.1, size=60)
    ws.data.ingest(frame, name="tiny")
    first = ws.train("tiny", target="y", algorithm="linear").model
    ws.models.approve(first.ref, reason="test fixture")
    ws.models.set_alias(first.ref, "prod")
    for shift in range(1, MODELS):
        ws.models.register(
            shifted(ws.models.load(first), shift),
            group="tiny",
            algorithm="linear",
            target="y",
            hyperparameters={},
            metrics={},
        )
    size = estimated_memory(ws, ws.models.get("tiny:2"))
    ws.endpoints.deploy(
        endpoint="many",
        multi_model=True,
        memory_budget=HOLDS * size + size // 2,
        allow_unapproved=True,
    )
    base = ws.models.load(first).predictions(pd.DataFrame(ROW))[0]["value"]
    yield ws, base, size
    ws.close()


def copy_of_first(ws, *, group: str):
    """tiny:1's model registered again, as the next version of ``group``."""
    model = ws.models.load("tiny:1")
    return ws.models.register(
        model, group=group, algorithm="linear", target="y", hyperparameters={}, metrics={}
    )


def target(client, version, endpoint="many"):
    return client.post(
        f"/endpoints/{endpoint}/invocations", json=ROW, headers={"x-kiln-target-model": version}
    )


def loaded_models(client, endpoint="many") -> list[str]:
    return [m["model"] for m in client.get(f"/endpoints/{endpoint}").json()["loaded_models"]]


def samples(client) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }


def test_two_hundred_models_are_served_under_a_budget_that_holds_twenty(tiny):
    ws, base, _ = tiny
    app = create_app(ws)
    with TestClient(app, base_url="http://localhost") as client:
        for number in range(1, MODELS + 1):
            answer = target(client, f"tiny:{number}")
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["model"] == body["variant"] == f"tiny:{number}"
            assert body["predictions"][0]["value"] == pytest.approx(base + number - 1)
            assert len(app.state.multimodels.pools["many"].held) == min(number, HOLDS)
            if number % 10 == 0:
                assert len(loaded_models(client)) == min(number, HOLDS)
        # The last twenty, most recently used first; one of them used again stays, and a model
        # loaded again evicts the least recently used instead.
        assert loaded_models(client) == [f"tiny:{n}" for n in range(MODELS, MODELS - HOLDS, -1)]
        assert target(client, f"tiny:{MODELS - HOLDS + 1}").status_code == 200
        answer = client.post("/endpoints/many/models/tiny/1/invocations", json=ROW)
        assert answer.json()["model"] == "tiny:1"
        held = loaded_models(client)
        assert held[:2] == ["tiny:1", f"tiny:{MODELS - HOLDS + 1}"]
        assert f"tiny:{MODELS - HOLDS + 2}" not in held and len(held) == HOLDS
        figures = samples(client)
    loads = sum(v for (n, _), v in figures.items() if n == "kiln_multimodel_loads_total")
    evictions = sum(v for (n, _), v in figures.items() if n == "kiln_multimodel_evictions_total")
    assert (loads, evictions) == (MODELS + 1, MODELS + 1 - HOLDS)
    hit = (("endpoint", "many"), ("model", f"tiny:{MODELS - HOLDS + 1}"))
    assert figures[("kiln_multimodel_hits_total", hit)] == 1
    assert figures[("kiln_multimodel_loaded_models", (("endpoint", "many"),))] == HOLDS
    # Invocations per model, in the per-variant series (the model is the variant).
    per_model = ws.endpoints.metrics("many", seconds=None)
    assert per_model["tiny:1"]["invocations"] == 2 and per_model["tiny:7"]["invocations"] == 1


def test_the_model_is_named_by_version_or_alias_in_the_header_or_the_path(tiny):
    ws, base, _ = tiny
    ws.endpoints.deploy(endpoint="named", multi_model=True)  # of its own: tests run in any order
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        for answer in (
            target(client, "tiny:prod", "named"),
            target(client, "tiny@prod", "named"),
            target(client, " tiny:1 ", "named"),
            client.post("/endpoints/named/models/tiny/prod/invocations", json=ROW),
            client.post("/endpoints/named/models/tiny/1/invocations?explain=false", json=ROW),
        ):
            assert answer.status_code == 200, answer.text
            assert answer.headers["x-kiln-model"] == "tiny:1"
            assert answer.json()["predictions"][0]["value"] == pytest.approx(base)
        assert loaded_models(client, "named") == ["tiny:1"]  # one model, loaded once
        listed = {e["name"]: e for e in client.get("/endpoints").json()}
        assert listed["named"]["model"] is None and listed["named"]["variants"] == []


def test_bad_targets_are_answered_with_what_to_do(tiny):
    ws, _, size = tiny
    other = copy_of_first(ws, group="other")
    ws.endpoints.deploy(endpoint="strict", multi_model=True, groups="tiny")
    ws.endpoints.deploy(
        endpoint="small", multi_model=True, memory_budget=size // 2, allow_unapproved=True
    )
    ws.endpoints.deploy("tiny:1", endpoint="single")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        missing = client.post("/endpoints/many/invocations", json=ROW)
        assert missing.status_code == 400
        assert missing.json()["error"] == "multimodel.no-target-model"
        assert "x-kiln-target-model: GROUP:VERSION" in missing.json()["detail"]
        assert "/endpoints/many/models/GROUP/VERSION/invocations" in missing.json()["detail"]
        cases = [
            ("many", "tiny:999", 404, "registry.unknown-version", "no version 999"),
            ("many", "nosuch:1", 404, "registry.unknown-model", "'nosuch'"),
            ("many", "tiny:canary", 404, "registry.unknown-alias", "no alias 'canary'"),
            ("many", "tiny:1:2", 400, "multimodel.bad-target-model", "'tiny:1:2'"),
            ("strict", other.ref, 404, "multimodel.group-not-served", "serves the groups tiny"),
            # Pending approval, on an endpoint that serves Approved versions only.
            ("strict", "tiny:2", 409, "multimodel.not-deployable", "PendingManualApproval"),
            (
                "small",
                "tiny:1",
                507,
                "multimodel.model-too-large",
                f"more than the whole memory budget of endpoint 'small' ({size // 2} bytes)",
            ),
            ("single", "tiny:1", 400, "multimodel.not-multi-model", "serves its own variants"),
        ]
        for endpoint, name, status, code, words in cases:
            answer = target(client, name, endpoint)
            assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
            assert words in answer.json()["detail"]
            assert answer.json()["field"] == "x-kiln-target-model"
        assert target(client, "tiny:1", "strict").status_code == 200  # Approved
        assert loaded_models(client, "strict") == ["tiny:1"]
        assert loaded_models(client, "small") == []
        assert client.post("/endpoints/single/invocations", json=ROW).status_code == 200


def test_a_model_withdrawn_from_the_registry_stops_serving(tiny):
    ws, _, _ = tiny
    version = copy_of_first(ws, group="tiny")
    app = create_app(ws)
    with TestClient(app, base_url="http://localhost") as client:
        assert target(client, version.ref).status_code == 200
        ws.models.reject(version.ref, reason="leaks the label")
        app.state.multimodels.resolve_seconds = 0  # instead of waiting a second
        answer = target(client, version.ref)
        assert answer.status_code == 409
        assert answer.json()["error"] == "multimodel.not-deployable"
        assert (
            f"model {version.ref}: Model {version.ref} is Rejected (leaks the label)"
            in (answer.json()["detail"])
        )
        assert version.ref not in loaded_models(client)  # its memory is given back


def test_concurrent_first_requests_share_one_load(tiny):
    ws, _, _ = tiny
    cache = EndpointCache(ws)
    cache.refresh()
    models = MultiModels(ws, cache, registry=CollectorRegistry())

    async def many_at_once():
        return await asyncio.gather(
            *(models.variant_for(cache.lookup("many"), "tiny:3") for _ in range(8))
        )

    variants = asyncio.run(many_at_once())
    assert len({id(v.loaded) for v in variants}) == 1
    assert models.loads.labels("many", "tiny:3")._value.get() == 1


def test_a_smaller_budget_evicts_at_the_next_request_and_a_deleted_endpoint_unloads(tiny):
    ws, _, size = tiny
    ws.endpoints.deploy(
        endpoint="shrinking", multi_model=True, memory_budget=4 * size, allow_unapproved=True
    )
    cache = EndpointCache(ws)
    cache.refresh()
    models = MultiModels(ws, cache, registry=CollectorRegistry())

    async def ask(*names):
        for name in names:
            await models.variant_for(cache.lookup("shrinking"), name)

    asyncio.run(ask("tiny:1", "tiny:2", "tiny:3", "tiny:4", "tiny:1"))
    assert list(models.pools["shrinking"].held) == ["tiny:2", "tiny:3", "tiny:4", "tiny:1"]
    ws.endpoints.deploy(endpoint="shrinking", multi_model=True, memory_budget=2 * size)
    cache.refresh()
    asyncio.run(ask("tiny:4"))
    assert list(models.pools["shrinking"].held) == ["tiny:1", "tiny:4"]
    assert models.evictions.labels("shrinking", "tiny:2")._value.get() == 1
    # Deleted: its models go at the next load of any multi-model endpoint.
    ws.endpoints.delete("shrinking")
    cache.refresh()
    asyncio.run(models.variant_for(cache.lookup("many"), "tiny:5"))
    assert list(models.pools) == ["many"]
    assert models.loaded_models.labels("shrinking")._value.get() == 0


def test_capture_records_each_model(tiny):
    ws, _, _ = tiny
    ws.endpoints.deploy(endpoint="captured", multi_model=True, allow_unapproved=True)
    ws.endpoints.set_capture("captured", 100)
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        for name in ("tiny:4", "tiny:5", "tiny:4"):
            assert target(client, name, "captured").status_code == 200
    captured = ws.data.capture("captured")
    assert sorted(captured["model"]) == ["tiny:4", "tiny:4", "tiny:5"]
    assert sorted(captured["variant"]) == ["tiny:4", "tiny:4", "tiny:5"]


def test_a_model_compiled_after_it_loaded_is_served_compiled(trained_copy):
    ws, result = trained_copy
    ref = result.model.ref
    ws.endpoints.deploy(endpoint="stores", multi_model=True, allow_unapproved=True)
    row = ws.data.load("churn:1").drop(columns=["churn"]).head(1)
    body = row.astype(object).where(row.notna(), None).to_dict("records")
    app = create_app(ws)
    with TestClient(app, base_url="http://localhost") as client:

        def held():
            return app.state.multimodels.pools["stores"].held[ref].variant.loaded

        def answer():
            return client.post(
                "/endpoints/stores/invocations", json=body, headers={"x-kiln-target-model": ref}
            )

        assert answer().status_code == 200
        assert held().compiled is None
        ws.compile(ref, target="native")
        app.state.multimodels.resolve_seconds = 0  # instead of waiting a second
        assert answer().status_code == 200
        assert held().compiled is not None and held().compiled.target == "native"
