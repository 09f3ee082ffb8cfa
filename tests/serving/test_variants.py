"""Production variants in the server: routing by weight, by header and by session; the
variant and inference id in every answer; per-variant metrics; shadow copies."""

from collections import Counter

import pytest
from fastapi.testclient import TestClient

from kiln.serving import create_app


@pytest.fixture
def rows(two_models):
    import kiln

    home, _, _ = two_models
    ws = kiln.Workspace(home)
    frame = ws.data.load("churn").head(2).drop(columns=["churn"])
    ws.close()
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def prometheus_samples(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def frozen(labels: dict, **more) -> frozenset:
    return frozenset({**labels, **more}.items())


def invoke(client, rows, **headers):
    return client.post("/endpoints/churn/invocations", json=rows, headers=headers)


def test_requests_are_routed_by_weight_and_every_answer_names_its_variant(two_models_copy, rows):
    ws, first, second = two_models_copy
    ws.endpoints.update("churn", weights={"primary": 0.7})
    ws.endpoints.deploy(second, endpoint="churn", variant="green", weight=0.3)
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        answers = [invoke(client, rows) for _ in range(300)]
    assert all(a.status_code == 200 for a in answers)
    seen = Counter(a.json()["variant"] for a in answers)
    assert set(seen) == {"primary", "green"}
    # 300 draws at 30 %: 90 expected, sd ~8; 50..130 is five sd either way.
    assert 50 <= seen["green"] <= 130
    for answer in answers[:20]:
        body = answer.json()
        expected_model = first if body["variant"] == "primary" else second
        assert body["model"] == expected_model == answer.headers["x-kiln-model"]
        assert answer.headers["x-kiln-variant"] == body["variant"]
        assert answer.headers["x-kiln-inference-id"] == body["inference_id"]
    assert len({a.json()["inference_id"] for a in answers}) == 300
    # What the server saw is in the workspace, per variant, once it has stopped.
    metrics = ws.endpoints.metrics("churn", seconds=None)
    assert metrics["primary"]["invocations"] + metrics["green"]["invocations"] == 300
    assert metrics["green"]["invocations"] == seen["green"]
    assert metrics["green"]["models"] == [second]
    assert sum(p["count"] for p in metrics["green"]["predictions"]["labels"].values()) == (
        2 * seen["green"]
    )


def test_the_target_variant_header_and_a_session_key(two_models_copy, rows):
    ws, _, second = two_models_copy
    ws.endpoints.deploy(second, endpoint="churn", variant="green", weight=0.0)  # no traffic
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        # weight 0: only a caller who asks for it reaches it (a test before it takes traffic)
        assert {invoke(client, rows).json()["variant"] for _ in range(30)} == {"primary"}
        targeted = invoke(client, rows, **{"X-Kiln-Target-Variant": "green"})
        assert targeted.status_code == 200 and targeted.json()["model"] == second
        unknown = invoke(client, rows, **{"X-Kiln-Target-Variant": "blue"})
        assert unknown.status_code == 400
        assert unknown.json()["error"] == "request.unknown-variant"
        assert "'blue'" in unknown.json()["detail"] and "primary, green" in unknown.json()["detail"]
    ws.endpoints.update("churn", weights="primary=1,green=1")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        for session in ("alice", "bob", "carol", "dave"):
            answered = {
                invoke(client, rows, **{"X-Kiln-Session-Id": session}).json()["variant"]
                for _ in range(8)
            }
            assert len(answered) == 1  # sticky: one caller, one variant
        sessions = {
            invoke(client, rows, **{"X-Kiln-Session-Id": f"user-{i}"}).json()["variant"]
            for i in range(40)
        }
        assert sessions == {"primary", "green"}  # and callers are spread over both


def test_metrics_in_prometheus_format_per_variant(two_models_copy, rows):
    ws, first, second = two_models_copy
    ws.endpoints.deploy(second, endpoint="churn", variant="green", weight=1.0)
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        for _ in range(10):
            invoke(client, rows, **{"X-Kiln-Target-Variant": "green"})
        bad = client.post(
            "/endpoints/churn/invocations",
            json=[{"tenure": "many"}],
            headers={"X-Kiln-Target-Variant": "green"},
        )
        assert bad.status_code == 422
        text = client.get("/metrics").text
    samples = prometheus_samples(text)
    green = {"endpoint": "churn", "model": second, "variant": "green"}
    assert samples[("kiln_invocations_total", frozen(green))] == 11
    assert samples[("kiln_invocation_errors_total", frozen(green, status_class="4xx"))] == 1
    assert samples[("kiln_model_latency_seconds_count", frozen(green))] == 11
    assert samples[("kiln_overhead_latency_seconds_count", frozen(green))] == 11
    assert samples[("kiln_predicted_labels_total", frozen(green, label="No"))] >= 1
    stored = ws.endpoints.metrics("churn", seconds=None)["green"]
    assert stored["invocations"] == 11 and stored["errors_4xx"] == 1
    assert stored["latency_ms"]["model"]["p99"] is not None


def test_a_shadow_gets_copies_of_live_requests_and_its_answers_are_never_returned(
    two_models_copy, rows, tmp_path
):
    ws, first, second = two_models_copy
    ws.endpoints.deploy(second, endpoint="churn", shadow=True, variant="candidate")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        answers = [invoke(client, rows) for _ in range(25)]
        shown = client.get("/endpoints/churn").json()
    assert {a.json()["model"] for a in answers} == {first}
    assert {a.json()["variant"] for a in answers} == {"primary"}
    assert [v["role"] for v in shown["variants"]] == ["live", "shadow"]
    metrics = ws.endpoints.metrics("churn", seconds=None)
    comparison = metrics["candidate"]["shadow_comparison"]
    assert comparison["compared"] == 25 and comparison["shadow_errors"] == 0
    assert 0.0 <= comparison["agreement_rate"] <= 1.0
    assert comparison["probability_difference"]["p99"] > 0  # 20 trees against 60: not equal
    assert metrics["primary"]["invocations"] == 25
    report = ws.endpoints.shadow_report("churn", out=tmp_path / "shadow.html")
    page = report.read_text()
    assert "Shadow test of candidate on churn" in page and "agreement rate" in page
    promoted = ws.endpoints.promote("churn", "candidate")
    assert [(v["name"], v["role"]) for v in promoted.variants] == [("candidate", "live")]


def test_a_shadow_that_fails_is_counted_and_never_hurts_the_live_answer(two_models_copy, rows):
    ws, first, second = two_models_copy
    ws.endpoints.deploy(second, endpoint="churn", shadow=True)
    app = create_app(ws)
    with TestClient(app, base_url="http://localhost") as client:
        shadow = app.state.cache.loaded["churn"].shadow.loaded

        def broken(*_args, **_kwargs):
            raise RuntimeError("the shadow model is broken")

        shadow.model.score_encoded = broken
        answers = [invoke(client, rows) for _ in range(10)]
    assert all(a.status_code == 200 and a.json()["model"] == first for a in answers)
    comparison = ws.endpoints.metrics("churn", seconds=None)["shadow"]["shadow_comparison"]
    assert comparison["shadow_errors"] == 10
