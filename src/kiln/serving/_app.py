"""The HTTP server: one FastAPI app for every endpoint of a workspace."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

import kiln
from kiln.context import Context
from kiln.errors import KilnError, NotFound, RequestError
from kiln.serving._access import AccessLog
from kiln.serving._cache import EndpointCache, EndpointUnavailable, LoadedEndpoint
from kiln.serving._capture import CaptureWriter
from kiln.serving._guard import Guard, allowed_hosts_for
from kiln.serving._validation import cut

log = logging.getLogger("kiln.serving")
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
    inference_id: str = Field(
        description="This invocation's id (also the X-Kiln-Inference-Id header): ground truth "
        "uploaded for it joins its captured prediction."
    )
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


class GroundTruthLabel(BaseModel):
    inference_id: str = Field(description="The inference id of the prediction, as answered.")
    label: Any = Field(description="The true label (or value) of that prediction.")


_GROUND_TRUTH_BODY = TypeAdapter(list[GroundTruthLabel])


class ErrorResponse(BaseModel):
    error: str = Field(description="A stable error code, e.g. request.unknown-column.")
    detail: str = Field(description="What went wrong and what to do.")
    field: str | None = Field(default=None, description="The column or field at fault.")


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def _error(exc: KilnError, status: int | None = None) -> Response:
    return _json(exc.to_dict(), status or exc.http_status)


_ERRORS = {
    400: {"model": ErrorResponse, "description": "Malformed body, or a Host the server refuses"},
    404: {"model": ErrorResponse, "description": "Unknown endpoint"},
    408: {"model": ErrorResponse, "description": "The body did not arrive in time"},
    413: {"model": ErrorResponse, "description": "Body over the size limit"},
    415: {"model": ErrorResponse, "description": "Unsupported content type"},
    422: {"model": ErrorResponse, "description": "Rows that do not match the model signature"},
    503: {"model": ErrorResponse, "description": "The endpoint's model failed to load"},
}

_JSON_TYPES = ("application/json", "", "*/*")
# /ping says degraded when the loader has not finished a look at the workspace for this long (the
# store is down, or a load hangs).
STALE_AFTER_SECONDS = 30.0
_CSV_TYPES = ("text/csv", "application/csv")


def scoring_threads() -> int:
    """Requests scored at once: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def create_app(workspace: Context | None = None, *, host: str = "127.0.0.1") -> FastAPI:
    """The serving app for ``workspace`` (the default one when omitted).

    ``host`` is the address the server binds: with the ``allowed_hosts`` setting it decides which
    Host headers are answered (loopback only, for a server bound to loopback).
    """
    workspace = workspace or Context()  # KILN_HOME, else .kiln here
    settings = workspace.settings
    cache = EndpointCache(workspace)
    max_bytes = settings.max_request_bytes
    body_timeout = settings.request_timeout_seconds
    form_as_json = settings.form_bodies_as_json
    scoring = {"limiter": None}

    metrics_registry = CollectorRegistry()
    capture = CaptureWriter(workspace, registry=metrics_registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Models load off the event loop: a big model never stalls the server's other clients.
        await anyio.to_thread.run_sync(cache.start)
        await anyio.to_thread.run_sync(capture.start)
        yield
        await anyio.to_thread.run_sync(cache.stop)
        await anyio.to_thread.run_sync(capture.stop)  # after the last request: nothing is lost

    # The /docs and /redoc pages load Swagger UI and ReDoc from the package, not from a CDN, so
    # they work on a machine without internet access.
    app = FastAPIOffline(
        lifespan=lifespan,
        title="kiln endpoints",
        version=kiln.__version__,
        description="Real-time inference for the endpoints of a kiln workspace.",
    )
    app.state.cache = cache
    app.state.metrics_registry = metrics_registry
    app.state.capture = capture
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["content-type"],
        )
    app.add_middleware(
        Guard,
        allowed_hosts=allowed_hosts_for(host, settings.allowed_hosts),
        max_concurrent=settings.max_concurrent_requests,
        cors_origins=settings.cors_origins,
    )
    app.add_middleware(AccessLog)  # outermost: it logs the Guard's answers too

    @app.exception_handler(KilnError)
    async def _kiln_error(_request: Request, exc: KilnError) -> Response:
        response = _error(exc)
        if isinstance(exc, EndpointUnavailable):
            response.headers["retry-after"] = str(exc.retry_after)
        if exc.http_status in (408, 413):
            # The rest of the body may still be on its way: do not wait for it on this connection.
            response.headers["connection"] = "close"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = "http.not-found" if exc.status_code == 404 else f"http.{exc.status_code}"
        return _json({"error": code, "detail": str(exc.detail)[:200]}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return _json({"error": "request.invalid", "detail": str(exc.errors())[:1000]}, 422)

    async def endpoint(name: str) -> LoadedEndpoint:
        try:
            return cache.lookup(name)
        except NotFound:
            if not cache.deserves_fresh_look(name):
                raise
            # Perhaps deployed a moment ago: one fresh look, shared with other waiters.
            cache.waiting += 1
            try:
                await anyio.to_thread.run_sync(cache.wait_for_fresh_look)
            finally:
                cache.waiting -= 1
            return cache.lookup(name)

    async def off_loop(function, *args):
        """Run CPU work in the scoring threads, so the event loop keeps answering."""
        if scoring["limiter"] is None:
            scoring["limiter"] = anyio.CapacityLimiter(scoring_threads())
        return await anyio.to_thread.run_sync(function, *args, limiter=scoring["limiter"])

    @app.get("/ping", summary="Health check")
    async def ping() -> dict:
        """``ok`` when every endpoint serves; ``degraded`` with the reasons when some failed to
        load or the server cannot read the workspace."""
        loaded, failed = cache.snapshot()
        stale = cache.stale_seconds()
        body: dict[str, Any] = {
            "status": "ok",
            "endpoints": sorted(loaded),
            "failed": [failed[n].to_dict() for n in sorted(failed)],
        }
        if failed or cache.last_store_error or stale > STALE_AFTER_SECONDS:
            body["status"] = "degraded"
        if cache.last_store_error or stale > STALE_AFTER_SECONDS:
            body["workspace"] = {
                "last_look_seconds_ago": round(stale, 1),
                "error": cache.last_store_error,
            }
        return body

    @app.get("/endpoints", summary="Served endpoints")
    async def list_endpoints() -> list[dict]:
        loaded, failed = cache.snapshot()
        return [
            {"name": e.name, "model": e.model_ref, "revision": e.revision, "status": "serving"}
            for e in sorted(loaded.values(), key=lambda e: e.name)
        ] + [{**failed[n].to_dict(), "status": "failed"} for n in sorted(failed)]

    @app.get(
        "/endpoints/{name}",
        summary="An endpoint, its model and input signature",
        responses={404: _ERRORS[404], 503: _ERRORS[503]},
    )
    async def show_endpoint(name: str) -> dict:
        loaded = await endpoint(name)
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
        arrived, started = time.time(), time.perf_counter()
        request.state.endpoint = name  # for the access log
        loaded = await endpoint(name)
        request.state.variant = loaded.variant
        media_type = request.headers.get("content-type", "application/json")
        media_type = media_type.split(";")[0].strip().lower()  # media types ignore case
        if media_type == "application/x-www-form-urlencoded" and form_as_json:
            # curl -d sends form-urlencoded by default; opted in by form_bodies_as_json.
            media_type = "application/json"
        if media_type not in _JSON_TYPES + _CSV_TYPES:  # refused before the body is read
            return _json(
                {
                    "error": "request.unsupported-media-type",
                    "detail": f"Content type {media_type[:100]!r} is not supported. "
                    "Send application/json or text/csv (with curl: "
                    "-H 'content-type: application/json').",
                },
                415,
            )
        body = await _read_body(request, max_bytes, body_timeout)
        score = score_json if media_type in _JSON_TYPES else score_csv
        inference_id = uuid.uuid4().hex
        payload = await off_loop(score, loaded, body, inference_id)
        capture.offer(
            endpoint=name,
            variant=loaded.variant,
            model=loaded.model_ref,
            pipeline=loaded.model.pipeline,
            inference_id=inference_id,
            body=body,
            content_type=media_type,
            response=payload,
            latency_ms=(time.perf_counter() - started) * 1000,
            timestamp=arrived,
        )
        return Response(
            payload,
            media_type="application/json",
            headers={"x-kiln-inference-id": inference_id},
        )

    @app.post(
        "/endpoints/{name}/ground-truth",
        summary="Upload ground truth",
        responses={s: _ERRORS[s] for s in (400, 404, 408, 413, 422)},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "items": GroundTruthLabel.model_json_schema()}
                    }
                },
            }
        },
    )
    async def upload_ground_truth(name: str, request: Request) -> dict:
        """Store the true labels of captured predictions by inference id (the latest upload
        wins). Answers the counts: received, stored, and inference ids the capture does not
        hold (yet), with a few examples."""
        # Read as invocations are: within max_request_bytes and request_timeout_seconds.
        body = await _read_body(request, max_bytes, body_timeout)
        try:
            labels = _GROUND_TRUTH_BODY.validate_json(body)
        except ValidationError as exc:
            raise RequestError(
                'The body must be a JSON list of {"inference_id": ..., "label": ...} objects: '
                f"{cut(str(exc), 300)}",
                code="request.bad-body",
            ) from None
        records = [label.model_dump() for label in labels]
        return await anyio.to_thread.run_sync(workspace.endpoints.ground_truth, name, records)

    return app


def score_json(loaded: LoadedEndpoint, body: bytes, inference_id: str | None = None) -> bytes:
    """Parse, check and score a JSON body; the response body."""
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
                f"The model could not score these rows: {cut(str(exc), 300)}",
                code="request.prediction-failed",
            ) from None
        return _payload(loaded, loaded.model.format_predictions(scores), warnings, inference_id)
    frame, warnings = loaded.schema.frame_from_records(rows)
    return _predict(loaded, frame, warnings, inference_id)


def score_csv(loaded: LoadedEndpoint, body: bytes, inference_id: str | None = None) -> bytes:
    """Parse, check and score a CSV body; the response body."""
    frame, warnings = loaded.schema.frame_from_csv(body)
    return _predict(loaded, frame, warnings, inference_id)


def _predict(
    loaded: LoadedEndpoint, frame, warnings: list[str], inference_id: str | None = None
) -> bytes:
    try:
        predictions = loaded.model.predictions(frame)
    except (ValueError, TypeError) as exc:
        raise RequestError(
            f"The model could not score these rows: {cut(str(exc), 300)}",
            code="request.prediction-failed",
        ) from None
    return _payload(loaded, predictions, warnings, inference_id)


def _payload(
    loaded: LoadedEndpoint, predictions: list, warnings: list[str], inference_id: str | None
) -> bytes:
    payload: dict[str, Any] = {"model": loaded.model_ref, "predictions": predictions}
    if inference_id is not None:
        payload["inference_id"] = inference_id
    if warnings:
        payload["warnings"] = warnings
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


async def _read_body(request: Request, max_bytes: int, timeout: float) -> bytes:
    """The whole body, refused when over ``max_bytes`` or slower than ``timeout`` seconds."""
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
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        slow = RequestError(
            f"The body did not arrive within {timeout:g} s ({size} bytes received). Send the "
            "whole body at once, or raise request_timeout_seconds in kiln.toml.",
            code="request.timeout",
        )
        slow.http_status = 408
        raise slow from None
    body = b"".join(chunks)
    if not body.strip():
        raise RequestError(
            "The body is empty. Send JSON records or CSV rows.", code="request.empty"
        )
    return body
