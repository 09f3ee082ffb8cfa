"""Forecasting models behind an endpoint: their request schema and scoring.

A forecaster is asked "the next steps of these series", not "score these rows": a JSON body is
one request object (``{"series", "history", "covariates", "horizon"}``, each optional) answered
by ``ForecastModel.answer``, and a CSV body is a table of ids, history rows (with the target) and
future covariate rows, answered by ``ForecastModel.predictions``. Neither touches the row
pipeline, the compiled recipe or the compiled model that other problem types score with.
"""

from __future__ import annotations

import io

import orjson

from kiln.errors import KilnError, RequestError
from kiln.serving._validation import RequestSchema, cut

__all__ = [
    "ForecastSchema",
    "forecast_refusal",
    "is_forecasting",
    "request_schema",
    "score_forecast",
    "score_forecast_batch",
]


def is_forecasting(signature: dict) -> bool:
    """Whether a model version's signature is a forecaster's."""
    return "forecasting" in signature


def request_schema(signature: dict) -> RequestSchema | ForecastSchema:
    """The request schema an endpoint checks a model version's requests with."""
    return ForecastSchema(signature) if is_forecasting(signature) else RequestSchema(signature)


class ForecastSchema:
    """What a forecasting endpoint takes: the fields of a forecast request, and the columns of
    its history and covariate rows (the model's id columns, timestamp, target, covariates)."""

    forecasting = True

    def __init__(self, signature: dict):
        self.signature = signature
        self.spec = signature["forecasting"]
        self.inputs = signature["inputs"]
        self.columns = [c["name"] for c in self.inputs]
        # Feature enrichment (docs/features.md) may add these to a request's rows.
        self.allowed = set(self.columns)

    def describe(self, series_count: int | None = None) -> dict:
        """The forecasting part of ``GET /endpoints/{name}``."""
        spec = self.spec
        out = {
            "id_columns": list(spec["id_columns"]),
            "timestamp": spec["timestamp"],
            "target": spec["target"],
            "horizon": spec["horizon"],
            "quantiles": list(spec["quantiles"]),
            "frequency": spec.get("frequency"),
            "covariates": list(spec.get("covariates") or []),
        }
        if series_count is not None:
            out["series_count"] = series_count
        return out

    def json_schema(self) -> dict:
        """JSON Schema of a forecast request, for the endpoint's description."""
        row = {
            "type": "object",
            "properties": {c: {} for c in self.columns},
            "required": [*self.spec["id_columns"], self.spec["timestamp"]],
        }
        return {
            "type": "object",
            "properties": {
                "series": {
                    "type": "array",
                    "items": {"type": ["string", "number", "object"]},
                    "description": "Series to forecast: ids, or objects of the id columns' "
                    "values; all series the model holds when omitted.",
                },
                "history": {
                    "type": "array",
                    "items": row,
                    "description": "Recent rows with the target, extending the held series "
                    "(or giving a series the model never saw).",
                },
                "covariates": {
                    "type": "array",
                    "items": row,
                    "description": "Known-in-advance covariates for the future steps.",
                },
                "horizon": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.spec["horizon"],
                    "description": "Steps to forecast (at most the trained horizon).",
                },
            },
            "additionalProperties": False,
        }


def forecast_refusal(feature: str) -> RequestError:
    """The clear refusal of a row-model feature a forecasting endpoint does not offer."""
    error = RequestError(
        f"{feature} is not available for forecasting models: a forecast is per series and "
        "step, not per input row. Ask without it.",
        code="forecast.unsupported",
        field=feature,
    )
    error.http_status = 400
    return error


def score_forecast(model, body: bytes, as_json: bool) -> tuple[list, list[str]]:
    """A forecasting model's answer to a JSON or CSV body: the per-series forecasts, and no
    warnings. Anything the forecaster cannot do with the request is a 4xx, never a 500."""
    try:
        if as_json:
            parsed = orjson.loads(body)
            return model.answer(parsed), []
        return model.predictions(_csv_frame(body)), []
    except orjson.JSONDecodeError as exc:
        raise RequestError(
            f"The body is not valid JSON: {exc}.", code="request.malformed-json"
        ) from None
    except KilnError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise RequestError(
            f"The model could not forecast this request: {cut(str(exc), 300)}",
            code="request.prediction-failed",
        ) from None


def score_forecast_batch(model, body: bytes, as_json: bool) -> list:
    """An asynchronous invocation's chunk: JSON holds a list of forecast request objects (the
    input was one object, a list of them or JSON lines of them), each answered in turn; CSV is
    a table of request rows, as a real-time CSV body."""
    if not as_json:
        return score_forecast(model, body, as_json)[0]
    requests = orjson.loads(body)
    out = []
    for request in requests if isinstance(requests, list) else [requests]:
        out += score_forecast(model, orjson.dumps(request), True)[0]
    return out


def _csv_frame(body: bytes):
    """A CSV body as text columns (ids stay as written; the model parses timestamps and
    numbers), empty fields as missing."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError) as exc:
        raise RequestError(
            f"The CSV body cannot be read: {cut(str(exc), 200)}.", code="request.bad-body"
        ) from None
    if frame.empty:
        raise RequestError("The CSV body has a header but no rows.", code="request.empty")
    return frame
