"""The HTTP server: one FastAPI app for every endpoint of a workspace."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

import kiln
from kiln.context import Context
from kiln.errors import KilnError, NotFound, RequestError
from kiln.recipe import RowEncoder, probe_rows
from kiln.registry import TrainedModel
from kiln.serving._validation import RequestSchema

log = logging.getLogger("kiln.serving")
REFRESH_SECONDS = 1.0
# Up to this many rows per request go through the compiled recipe; larger batches amortise the
# pipeline's per-call cost and use it directly.
FAST_PATH_MAX_ROWS = 64


# -- response shapes, for the OpenAPI document ----------------------------------------------------
class ClassPrediction(BaseModel):
    label: Any = Field(description="The predicted class, in the target's own values.")
    probabilities: dict[str, float] = Field(description="Probability of each class label.")


class ValuePrediction(BaseModel):
    value: float = Field(description="The predicted value.")


class ClusterPrediction(BaseModel):
    cluster: int = Field(description="The cluster the row falls in (-1: noise, for DBSCAN).")


class AnomalyPrediction(BaseModel):
    score: float = Field(description="Anomaly score: higher is more anomalous.")
    anomaly: bool = Field(description="Whether the score is past the model's threshold.")


class ComponentsPrediction(BaseModel):
    components: list[float] = Field(description="The row's coordinates on the components.")


class TopicPrediction(BaseModel):
    topic: int = Field(description="The most likely topic.")
    topics: list[float] = Field(description="The row's weight on each topic.")


class InvocationResponse(BaseModel):
    """One prediction per input row, in input order."""

    model: str = Field(description="The model version that answered, GROUP:VERSION.")
    predictions: list[
        ClassPrediction
        | ValuePrediction
        | ClusterPrediction
        | AnomalyPrediction
        | ComponentsPrediction
        | TopicPrediction
    ]
    warnings: list[str] = Field(
        default_factory=list,
        description="Unseen categories and other accepted oddities of the input (omitted if none).",
    )


class ErrorResponse(BaseModel):
    error: str = Field(description="A stable error code, e.g. request.unknown-column.")
    detail: str = Field(description="What went wrong and what to do.")
    field: str | None = Field(default=None, description="The column or field at fault.")


# -- loaded endpoints -----------------------------------------------------------------------------
@dataclass
class LoadedEndpoint:
    name: str
    revision: int
    model_ref: str
    model: TrainedModel
    schema: RequestSchema
    fast: RowEncoder | None = None  # the compiled recipe, when it reproduces the pipeline


class EndpointCache:
    """The models behind each endpoint, reloaded when an endpoint's revision changes."""

    def __init__(self, workspace: Context):
        self.workspace = workspace
        self.loaded: dict[str, LoadedEndpoint] = {}
        self._checked = 0.0
        self._lock = threading.Lock()

    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._checked < REFRESH_SECONDS:
            return
        with self._lock:
            revisions = self.workspace.endpoints.revisions()
            for name in list(self.loaded):
                if name not in revisions:
                    del self.loaded[name]
            for name, revision in revisions.items():
                current = self.loaded.get(name)
                if current is None or current.revision != revision:
                    try:
                        self.loaded[name] = self._load(name)
                    except KilnError as exc:
                        log.error("Endpoint %s not loaded: %s", name, exc.message)
            self._checked = time.monotonic()

    def _load(self, name: str) -> LoadedEndpoint:
        endpoint = self.workspace.endpoints.get(name)
        version = self.workspace.models.get(endpoint.model)
        model = self.workspace.models.load(version)
        model.set_threads(1)
        fast = None
        if model.problem_type in ("binary", "multiclass", "regression"):
            preprocessor = model.pipeline[0]
            fast = RowEncoder.compile(preprocessor, probe_rows(version.signature, preprocessor))
        log.info(
            "Endpoint %s serves %s (revision %s%s)",
            name,
            version.ref,
            endpoint.revision,
            ", compiled recipe" if fast else "",
        )
        return LoadedEndpoint(
            name, endpoint.revision, version.ref, model, RequestSchema(version.signature), fast
        )

    def get(self, name: str) -> LoadedEndpoint:
        self.refresh()
        try:
            return self.loaded[name]
        except KeyError:
            self.refresh(force=True)
            if name in self.loaded:
                return self.loaded[name]
            raise NotFound(
                f"No endpoint named {name!r} is being served. Served endpoints: "
                f"{', '.join(sorted(self.loaded)) or 'none'}. Deploy with "
                f"'kiln deploy GROUP:VERSION --endpoint {name}'.",
                code="serving.unknown-endpoint",
                field="name",
            ) from None


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def _error(exc: KilnError, status: int | None = None) -> Response:
    return _json(exc.to_dict(), status or exc.http_status)


_ERRORS = {
    400: {"model": ErrorResponse, "description": "Malformed body"},
    404: {"model": ErrorResponse, "description": "Unknown endpoint"},
    413: {"model": ErrorResponse, "description": "Body over the size limit"},
    415: {"model": ErrorResponse, "description": "Unsupported content type"},
    422: {"model": ErrorResponse, "description": "Rows that do not match the model signature"},
}


def create_app(workspace: Context | None = None) -> FastAPI:
    """The serving app for ``workspace`` (the default one when omitted)."""
    workspace = workspace or Context()  # KILN_HOME, else .kiln here
    cache = EndpointCache(workspace)
    max_bytes = workspace.settings.max_request_bytes

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        cache.refresh(force=True)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="kiln endpoints",
        version=kiln.__version__,
        description="Real-time inference for the endpoints of a kiln workspace.",
    )
    app.state.cache = cache

    @app.exception_handler(KilnError)
    async def _kiln_error(_request: Request, exc: KilnError) -> Response:
        return _error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = "http.not-found" if exc.status_code == 404 else f"http.{exc.status_code}"
        return _json({"error": code, "detail": str(exc.detail)}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return _json({"error": "request.invalid", "detail": str(exc.errors())}, 422)

    @app.exception_handler(Exception)
    async def _internal_error(_request: Request, exc: Exception) -> Response:
        log.exception("Internal error")
        return _json({"error": "internal", "detail": f"{type(exc).__name__}: {exc}"}, 500)

    @app.get("/ping", summary="Health check")
    def ping() -> dict:
        cache.refresh()
        return {"status": "ok", "endpoints": sorted(cache.loaded)}

    @app.get("/endpoints", summary="Served endpoints")
    def list_endpoints() -> list[dict]:
        cache.refresh()
        return [
            {"name": e.name, "model": e.model_ref, "revision": e.revision}
            for e in sorted(cache.loaded.values(), key=lambda e: e.name)
        ]

    @app.get(
        "/endpoints/{name}",
        summary="An endpoint, its model and input signature",
        responses={404: _ERRORS[404]},
    )
    def show_endpoint(name: str) -> dict:
        loaded = cache.get(name)
        return {
            "name": loaded.name,
            "model": loaded.model_ref,
            "revision": loaded.revision,
            "signature": loaded.schema.signature,
            "input_schema": loaded.schema.json_schema(),
        }

    @app.post(
        "/endpoints/{name}/invocations",
        summary="Predict",
        response_model=InvocationResponse,
        response_model_exclude_defaults=True,
        responses=_ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"type": "array", "items": {"type": "object"}},
                                {
                                    "type": "object",
                                    "properties": {
                                        "instances": {"type": "array", "items": {"type": "object"}}
                                    },
                                    "required": ["instances"],
                                },
                            ]
                        },
                        "example": [{"column": "value"}],
                    },
                    "text/csv": {"schema": {"type": "string"}},
                },
                "description": "Rows as JSON records or CSV with a header. Each endpoint's record "
                "schema is at GET /endpoints/{name} (input_schema).",
            }
        },
    )
    async def invoke(name: str, request: Request) -> Response:
        loaded = cache.get(name)
        body = await _read_body(request, max_bytes)
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
        # curl -d sends form-urlencoded by default; a body that starts like JSON is read as JSON.
        looks_json = content_type == "application/x-www-form-urlencoded" and body.lstrip()[:1] in (
            b"[",
            b"{",
        )
        if content_type in ("application/json", "", "*/*") or looks_json:
            try:
                parsed = loaded.schema.parse_json(body)  # orjson, and no key twice
            except orjson.JSONDecodeError as exc:
                raise RequestError(
                    f"The body is not valid JSON: {exc}.", code="request.malformed-json"
                ) from None
            rows = loaded.schema.records(parsed)
            if loaded.fast is not None and len(rows) <= FAST_PATH_MAX_ROWS:
                columns, warnings = loaded.schema.columns_from_records(rows)
                try:
                    scores = loaded.model.score_encoded(loaded.fast.encode(columns))
                except (ValueError, TypeError) as exc:
                    raise RequestError(
                        f"The model could not score these rows: {exc}",
                        code="request.prediction-failed",
                    ) from None
                payload = {
                    "model": loaded.model_ref,
                    "predictions": loaded.model.format_predictions(scores),
                }
                if warnings:
                    payload["warnings"] = warnings
                return _json(payload)
            frame, warnings = loaded.schema.frame_from_records(rows)
        elif content_type in ("text/csv", "application/csv"):
            frame, warnings = loaded.schema.frame_from_csv(body)
        else:
            return _json(
                {
                    "error": "request.unsupported-media-type",
                    "detail": f"Content type {content_type!r} is not supported. "
                    "Send application/json or text/csv.",
                },
                415,
            )
        try:
            predictions = loaded.model.predictions(frame)
        except (ValueError, TypeError) as exc:
            raise RequestError(
                f"The model could not score these rows: {exc}", code="request.prediction-failed"
            ) from None
        payload: dict[str, Any] = {"model": loaded.model_ref, "predictions": predictions}
        if warnings:
            payload["warnings"] = warnings
        return _json(payload)

    return app


async def _read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = RequestError(
        f"The body is larger than the limit of {max_bytes} bytes. Send fewer rows per request, "
        "use 'kiln transform' for large batches, or raise max_request_bytes in kiln.toml.",
        code="request.too-large",
    )
    too_large.http_status = 413
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise RequestError(
            "The body is empty. Send JSON records or CSV rows.", code="request.empty"
        )
    return body
