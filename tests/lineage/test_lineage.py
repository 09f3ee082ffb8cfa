"""The lineage graph: data → training job → model → approval → deployment → endpoint →
captured predictions, from any of them, as a tree, JSON and an HTML page."""

from __future__ import annotations

import orjson
import pytest

from kiln.data import capture_file_name
from kiln.errors import ConfigError, NotFound
from kiln.store import now

INFERENCE = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def lifecycle(trained_copy):
    """The ``trained`` workspace after a person approved churn:1 and redeployed it, with one
    captured invocation of the 'churn' endpoint."""
    ws, result = trained_copy
    ref = result.model.ref
    ws.models.approve(ref, reason="looks good")
    ws.endpoints.deploy(ref, endpoint="churn")
    record = {
        "inference_id": INFERENCE,
        "endpoint": "churn",
        "variant": "primary",
        "model": ref,
        "timestamp": now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "latency_ms": 1.5,
        "status": 200,
        "input": [{"tenure": 3}],
        "output": [{"label": 1}],
    }
    ws.artifacts.append_named(
        capture_file_name("churn", now(), "handmade-1", "jsonl"), orjson.dumps(record) + b"\n"
    )
    return ws, result


def kinds_by_level(graph) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for node in graph.to_dict()["nodes"]:
        found.setdefault(node["level"], set()).add(node["kind"])
    return found


def test_a_data_set_version_leads_to_its_captured_predictions(lifecycle):
    """Downstream of the training data: the job, the model, the approval, both deployments (the
    first unapproved), the endpoint and what it captured, with labels and facts."""
    ws, result = lifecycle
    graph = ws.lineage.graph("data:churn:1", upstream=False)
    levels = kinds_by_level(graph)
    assert levels[0] == {"dataset_version"}
    assert levels[1] == {"job", "dataset_version"}  # the training job, and the split's parts
    assert levels[2] == {"model_version"}
    assert "approval" in levels[3] and "deployment" in levels[3]  # revision 1: not yet approved
    assert "deployment" in levels[4] and "endpoint" in levels[4]
    assert "capture" in levels[5]
    relations = {
        (graph.nodes[e.source].kind, e.relation, graph.nodes[e.target].kind) for e in graph.edges
    }
    assert relations >= {
        ("dataset_version", "input", "job"),
        ("job", "output", "model_version"),
        ("model_version", "decided", "approval"),
        ("model_version", "deployed unapproved", "deployment"),
        ("approval", "deployed", "deployment"),
        ("deployment", "revision", "endpoint"),
        ("endpoint", "served", "capture"),
    }
    model = next(n for n in graph.nodes.values() if n.kind == "model_version")
    assert model.label == result.model.ref
    assert model.facts["approval_status"] == "Approved" and model.facts["algorithm"] == "lightgbm"
    assert 0.5 < model.facts["roc_auc (test)"] <= 1  # the primary metric, on the test rows
    capture = next(n for n in graph.nodes.values() if n.kind == "capture")
    assert capture.facts["invocations"] == 1 and capture.facts["variants"] == "primary"
    approval = next(n for n in graph.nodes.values() if n.kind == "approval")
    assert approval.facts["reason"] == "looks good"


def test_an_inference_id_resolves_to_its_endpoint_variant_and_model(lifecycle):
    ws, result = lifecycle
    graph = ws.lineage.graph(INFERENCE, downstream=False, depth=1)
    assert graph.entity.kind == "inference"
    assert graph.entity.facts["variant"] == "primary"
    assert graph.entity.facts["model"] == result.model.ref
    sources = {(n.kind, n.label, r) for n, r in graph.upstream(graph.root)}
    assert sources == {
        ("endpoint", "churn", "served"),
        ("model_version", result.model.ref, "predicted"),
    }
    deeper = ws.lineage.graph(INFERENCE, downstream=False)
    assert {"dataset_version", "job"} <= {n.kind for n in deeper.nodes.values()}


def test_a_model_version_upstream_and_depth(trained):
    ws, result = trained
    graph = ws.lineage.graph(f"model:{result.model.ref}", downstream=False, depth=1)
    assert {n.kind for n in graph.nodes.values()} == {"model_version", "job"}
    assert ws.lineage.graph(result.job.id).entity.kind == "job"
    assert ws.lineage.graph(result.job.id[:10]).root == f"job:{result.job.id}"  # a short id
    assert ws.lineage.graph("churn").entity.kind == "endpoint"


def test_an_ambiguous_or_unknown_entity_is_refused(trained):
    ws, _ = trained
    with pytest.raises(ConfigError, match="'data:churn:1' or 'model:churn:1'") as ambiguous:
        ws.lineage.graph("churn:1")
    assert ambiguous.value.code == "lineage.ambiguous-entity"
    with pytest.raises(
        NotFound, match="'nosuch:7'.*data set version, model version, job id, endpoint name"
    ) as unknown:
        ws.lineage.graph("nosuch:7")
    assert unknown.value.code == "lineage.unknown-entity"
    with pytest.raises(NotFound, match="tried it as: inference id\\. "):
        ws.lineage.graph("inference:" + INFERENCE)


def test_the_cli_prints_a_tree_json_and_an_html_graph(lifecycle, run_cli, tmp_path):
    ws, result = lifecycle
    home = ws.home
    tree = run_cli("lineage", f"model:{result.model.ref}", home=home, check=True).stdout
    assert "upstream (made from)" in tree and "downstream (made from it)" in tree
    assert "data set version churn:1" in tree and "captured predictions of churn" in tree
    listed = orjson.loads(
        run_cli("lineage", "churn", "--upstream", "--json", home=home, check=True).stdout
    )
    assert listed["entity"]["kind"] == "endpoint"
    assert all(node["level"] <= 0 for node in listed["nodes"])
    page_path = tmp_path / "lineage.html"
    run_cli("lineage", "data:churn:1", "--html", str(page_path), home=home, check=True)
    page = page_path.read_text()
    assert "<svg" in page and "<script" not in page  # opens offline, no library to load
    assert page.count('class="node"') == len(ws.lineage.graph("data:churn:1").nodes)
    assert result.model.ref in page
    refused = run_cli("lineage", "nosuch:7", home=home)
    assert refused.returncode == 2 and "lineage.unknown-entity" in refused.stderr
