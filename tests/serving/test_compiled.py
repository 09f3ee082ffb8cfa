"""Endpoints and batch transform use a version's compiled form (kiln compile), and fall back to
the pipeline per request where it does not cover one (counted in /metrics)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from kiln.serving import create_app


@pytest.fixture
def compiled(trained_copy):
    ws, result = trained_copy
    ws.compile(result.model.ref, target="native")
    return ws, result.model.ref


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_the_endpoint_serves_the_compiled_form_and_answers_as_the_pipeline(compiled):
    ws, ref = compiled
    rows = ws.data.load("churn").tail(5).drop(columns=["churn"])
    expected = ws.models.load(ref).predict_proba(rows)
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        loaded = client.app.state.cache.lookup("churn").main.loaded
        assert loaded.compiled is not None and loaded.compiled.target == "native"
        as_json = client.post("/endpoints/churn/invocations", json=records(rows)).json()
        as_csv = client.post(
            "/endpoints/churn/invocations",
            content=rows.to_csv(index=False),
            headers={"content-type": "text/csv"},
        ).json()
    for body in (as_json, as_csv):
        got = [p["probabilities"]["Yes"] for p in body["predictions"]]
        assert got == pytest.approx(expected[:, 1].round(6), abs=1e-6)


def test_explanations_come_from_the_pipeline_and_are_counted_as_fallbacks(compiled):
    pytest.importorskip("shap")
    ws, ref = compiled
    rows = ws.data.load("churn").tail(2).drop(columns=["churn"])
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        plain = client.post("/endpoints/churn/invocations", json=records(rows))
        explained = client.post("/endpoints/churn/invocations?explain=true", json=records(rows))
        metrics = client.get("/metrics").text
    assert plain.status_code == explained.status_code == 200
    assert "attributions" in explained.json()["predictions"][0]
    line = f'kiln_compiled_fallbacks_total{{model="{ref}",reason="explain"}} 1.0'
    assert line in metrics


def test_batch_transform_scores_with_the_compiled_form(compiled):
    from kiln.serving._transform import _Scorer

    pytest.importorskip("onnxruntime")
    from kiln.compiler import load_compiled

    ws, ref = compiled
    ws.compile(ref, target="onnx")  # endpoints now serve the onnx form...
    assert load_compiled(ws, ws.models.get(ref)).target == "onnx"
    frame = ws.data.load("churn").head(300)
    scorer = _Scorer(ws, ws.models.get(ref), threads=1)
    assert scorer.compiled.target == "native"  # ...batch transform the native one
    table = pa.Table.from_pandas(frame.drop(columns=["churn"]), preserve_index=False)
    out = scorer.predictions(table).to_pandas()
    expected = ws.models.load(ref).predict_proba(frame)
    assert out["probability_Yes"].to_numpy() == pytest.approx(expected[:, 1], abs=1e-9)
    assert scorer.fallbacks == 0


def test_a_running_server_picks_up_a_compile_at_its_next_look(trained_copy):
    ws, result = trained_copy
    ref = result.model.ref
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        cache = client.app.state.cache
        assert cache.lookup("churn").main.loaded.compiled is None
        revision = cache.lookup("churn").revision
        ws.compile(ref, target="native")  # a new revision of the endpoints serving it
        cache.refresh()
        loaded = cache.lookup("churn")
        assert loaded.revision == revision + 1 and loaded.main.loaded.compiled is not None
        ws.models.set_compiled(ref, "native", None)  # removed: the pipeline serves again
        cache.refresh()
        assert cache.lookup("churn").main.loaded.compiled is None
