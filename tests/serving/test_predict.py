"""predict_records: an endpoint's live model answering rows in this process, checked against
its signature as the server checks them."""

from __future__ import annotations

import pytest

from kiln.errors import NotFound, RequestError
from kiln.serving import predict_records


def test_rows_are_answered_by_the_endpoints_live_model_as_the_server_answers(trained):
    ws, result = trained
    frame = ws.data.load("churn").drop(columns=["churn"]).head(3)
    records = frame.to_dict(orient="records")
    answer = predict_records(ws, "churn", records)
    assert answer["endpoint"] == "churn" and answer["model"] == result.model.ref
    expected = ws.models.load(result.model.ref).predictions(frame)
    assert answer["predictions"] == expected
    assert answer["warnings"] == []


def test_bad_rows_get_the_servers_errors(trained):
    ws, _ = trained
    row = ws.data.load("churn").drop(columns=["churn"]).head(1).to_dict(orient="records")[0]
    with pytest.raises(RequestError) as wrong:
        predict_records(ws, "churn", [{**row, "tenure": "soon"}])
    assert wrong.value.code == "request.wrong-type" and wrong.value.field == "tenure"
    with pytest.raises(RequestError) as missing:
        predict_records(ws, "churn", [{k: v for k, v in row.items() if k != "contract"}])
    assert missing.value.code == "request.missing-column"
    with pytest.raises(RequestError) as empty:
        predict_records(ws, "churn", [])
    assert empty.value.code == "request.empty"


def test_an_unknown_endpoint_is_named(trained):
    ws, _ = trained
    with pytest.raises(NotFound) as caught:
        predict_records(ws, "ghost", [{}])
    assert caught.value.code == "serving.unknown-endpoint"


def test_the_model_is_loaded_once_for_many_predictions(trained, monkeypatch):
    from collections import OrderedDict

    from kiln.serving import _predict

    ws, _ = trained
    monkeypatch.setattr(_predict, "_loaded", OrderedDict())
    loads = []
    real_load = ws.models.load

    def counting_load(version):
        loads.append(version)
        return real_load(version)

    monkeypatch.setattr(ws.models, "load", counting_load)
    row = ws.data.load("churn").drop(columns=["churn"]).head(1).to_dict(orient="records")
    first = predict_records(ws, "churn", row)
    assert predict_records(ws, "churn", row) == first
    assert len(loads) == 1
