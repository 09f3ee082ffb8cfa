"""Predictions from an endpoint's live model in this process, with no server: what Studio's
Canvas answers a one-row form with. The rows are checked against the model signature exactly as
``POST /endpoints/{name}/invocations`` checks them, so the same bad value gets the same error."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from kiln.errors import RequestError
from kiln.serving._validation import RequestSchema, cut

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.registry import ModelVersion, TrainedModel

__all__ = ["predict_records"]

# Loading a model (reading, verifying and unpickling it) costs ~90 ms of a form's ~110 ms answer
# on the churn ensemble; the last few loaded stay, by their content's digest, which the store
# recorded for the version (so only a verified artifact is ever kept).
_KEPT_MODELS = 4
_loaded: OrderedDict[str, TrainedModel] = OrderedDict()
_lock = threading.Lock()


def predict_records(workspace: Context, endpoint: str, records: list[dict[str, Any]]) -> dict:
    """Score JSON ``records`` with the live model of ``endpoint`` that takes the most traffic.

    Returns ``{"endpoint", "model", "predictions", "warnings"}``: one prediction per record as
    the endpoint answers it (``{"label", "probabilities"}`` for classifiers, ``{"value"}`` for
    regression), and warnings about categories the model never saw. Bad records raise the
    server's :class:`~kiln.errors.RequestError` (a missing column, a wrong type); an unknown
    endpoint raises ``serving.unknown-endpoint``; a multi-model endpoint names no one model and
    is refused (``multimodel.*``).

    Examples
    --------
    >>> predict_records(ws, "churn", [{"tenure": 3, "contract": "One year", ...}])  # doctest: +SKIP
    """
    version = workspace.models.get(workspace.endpoints.get(endpoint).model)
    schema = RequestSchema(version.signature)
    frame, warnings = schema.frame_from_records(schema.records(records))
    model = _model(workspace, version)
    try:
        predictions = model.predictions(frame)
    except (ValueError, TypeError) as exc:
        raise RequestError(
            f"The model could not score these rows: {cut(str(exc), 300)}",
            code="request.prediction-failed",
        ) from None
    return {
        "endpoint": endpoint,
        "model": version.ref,
        "predictions": predictions,
        "warnings": warnings,
    }


def _model(workspace: Context, version: ModelVersion) -> TrainedModel:
    with _lock:
        if version.digest in _loaded:
            _loaded.move_to_end(version.digest)
            return _loaded[version.digest]
    model = workspace.models.load(version)
    with _lock:
        _loaded[version.digest] = model
        while len(_loaded) > _KEPT_MODELS:
            _loaded.popitem(last=False)
    return model
