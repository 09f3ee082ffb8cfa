"""The serving baseline: the idiomatic minimal FastAPI wrapper around the same fitted pipeline.

``serving.py`` runs it as ``python -m uvicorn _bare_app:app --app-dir benchmarks`` with
``BENCH_MODEL_PATH`` pointing at the pickled kiln model (``TrainedModel.to_bytes()`` of the model
under test). No validation, no signature, no error handling: what kiln's endpoint is measured
against.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as kiln does, before LightGBM loads


from pathlib import Path  # noqa: E402

import orjson  # noqa: E402
import pandas as pd  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from kiln.registry import TrainedModel  # noqa: E402

_model = TrainedModel.from_bytes(Path(os.environ["BENCH_MODEL_PATH"]).read_bytes())
_model.set_threads(1)  # n_jobs=1 on the estimator, as kiln's server does
pipeline = _model.pipeline
input_columns = list(_model.input_columns)

app = FastAPI()


@app.get("/ping")
async def ping() -> dict:
    return {"status": "ok"}


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    rows = orjson.loads(await request.body())
    frame = pd.DataFrame(rows)
    proba = pipeline.predict_proba(frame[input_columns])
    return Response(orjson.dumps(proba.tolist()), media_type="application/json")
