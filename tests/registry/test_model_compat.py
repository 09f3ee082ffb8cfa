"""Models stored by earlier kiln versions keep loading and answer the same, after modules move."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kiln.registry import TrainedModel

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MODELS = sorted(ASSETS.glob("model_*.pkl"))


def test_there_are_stored_models_to_check():
    assert len(MODELS) >= 2


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_an_old_model_loads_and_predicts_as_it_did(path):
    model = TrainedModel.from_bytes(path.read_bytes())
    rows = pd.read_csv(path.with_suffix(".rows.csv"))
    expected = rows.pop("expected_yes").to_numpy()
    assert np.allclose(model.predict_proba(rows)[:, 1], expected, atol=1e-9)
    # and it still serves: the compiled row encoder (when the recipe has one) agrees too
    assert model.predictions(rows.head(1))[0]["label"] in ("Yes", "No")


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_an_old_model_s_signature_still_reads_requests(path):
    """Signatures recorded by earlier versions keep validating requests, over JSON and CSV."""
    import orjson

    from kiln.serving import RequestSchema

    model = TrainedModel.from_bytes(path.read_bytes())
    schema = RequestSchema(model.signature)
    rows = pd.read_csv(path.with_suffix(".rows.csv")).drop(columns=["expected_yes"]).head(3)
    expected = model.predictions(rows)
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    frame, _ = schema.frame_from_records(schema.records(schema.parse_json(orjson.dumps(records))))
    assert model.predictions(frame) == expected
    frame, _ = schema.frame_from_csv(rows.to_csv(index=False).encode())
    assert model.predictions(frame) == expected


def test_serving_threads_leave_a_fitted_catboost_model_as_it_is():
    """An AutoML ensemble with a CatBoost member is served: CatBoost refuses to change a fitted
    model's parameters, so it keeps the threads it was fitted with."""
    from catboost import CatBoostClassifier

    from kiln.registry import set_estimator_threads

    X, y = np.arange(40.0).reshape(20, 2), np.array([0, 1] * 10)
    unfitted = CatBoostClassifier(iterations=5, verbose=False, thread_count=4)
    set_estimator_threads(unfitted, 1)
    assert unfitted.get_params()["thread_count"] == 1
    fitted = CatBoostClassifier(iterations=5, verbose=False, thread_count=2).fit(X, y)
    set_estimator_threads(fitted, 1)  # no error
    assert fitted.predict_proba(X).shape == (20, 2)


def test_a_model_is_stored_compressed_and_loads_back(trained):
    """Tree ensembles are mostly node arrays that compress well; a stored model is compressed
    and reads back to the same predictions (plain pickles, as stored before, load above)."""
    import pickle

    ws, result = trained
    model = ws.models.load(result.model.ref)
    stored = model.to_bytes()
    assert len(stored) < len(pickle.dumps(model, protocol=5)) / 2
    rows = ws.data.load(result.job.result["splits"]["test"]).head(20)
    restored = TrainedModel.from_bytes(stored)
    assert np.array_equal(restored.predict_proba(rows), model.predict_proba(rows))
