"""Predictions from an endpoint's live model in this process, with no server: what Studio's
Canvas answers a one-row form with. The rows are checked against the model signature exactly as
``POST /endpoints/{name}/invocations`` checks them, so the same bad value gets the same error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.errors import RequestError
from kiln.serving._validation import RequestSchema, cut

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["predict_records"]


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
    model = workspace.models.load(version)
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
