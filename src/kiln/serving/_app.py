"""The HTTP server: one FastAPI app for every endpoint of a workspace."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import random
import time
import uuid
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, Counter
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

import kiln
from kiln.compiler import request_columns
from kiln.context import Context
from kiln.errors import KilnError, NotFound, RequestError
from kiln.serving._access import AccessLog
from kiln.serving._async import AsyncWorkers, async_exposition, async_router
from kiln.serving._auth import Auth, KeyRing
from kiln.serving._cache import (
    UNLOADED,
    EndpointCache,
    EndpointUnavailable,
    LoadedEndpoint,
    LoadedModel,
    LoadedVariant,
)
from kiln.serving._capture import CaptureWriter
from kiln.serving._compiled import count_fallback, fallback_counter, score_compiled
from kiln.serving._explain import explain_predictions
from kiln.serving._features import FeatureEnricher, features_router
from kiln.serving._forecast import forecast_refusal, score_forecast
from kiln.serving._guard import Guard, allowed_hosts_for
from kiln.serving._human_review import ReviewQueue
from kiln.serving._metrics import ServingMetrics
from kiln.serving._multimodel import MultiModels
from kiln.serving._serverless import COLD_START_HEADER, Serverless, ServerlessGate
from kiln.serving._shadow import ShadowCopies
from kiln.serving._validation import cut
from kiln.serving._workers import metrics_exposition

log = logging.getLogger("kiln.serving")


def _monitoring_exposition(workspace: Context) -> bytes:
    """The monitors' and alarms' gauges; nothing (and a warning) when the workspace cannot be
    read, so the server's own metrics still answer."""
    from kiln.monitoring import monitoring_metrics

    try:
        return monitoring_metrics(workspace)
    except Exception as exc:  # noqa: BLE001 - a scrape never fails for the monitors' part
        log.warning("monitor metrics left out of /metrics: %s", exc)
        return b""


# Up to this many rows per request go through the compiled recipe; larger batches amortise the
# pipeline's per-call cost and use it directly.
FAST_PATH_MAX_ROWS = 64
TARGET_VARIANT_HEADER = "x-kiln-target-variant"
TARGET_MODEL_HEADER = "x-kiln-target-model"  # multi-model endpoints: GROUP:VERSION
SESSION_HEADER = "x-kiln-session-id"
# COLD_START_HEADER (x-kiln-cold-start-ms, serverless endpoints) is in _serverless.py.


# -- response shapes, for the OpenAPI document ----------------------------------------------------
class Attribution(BaseModel):
    column: str = Field(description="An input column.")
    value: Any = Field(description="The row's value of that column.")
    attribution: float = Field(description="Its SHAP value (units: attribution_units).")


class _Explained(BaseModel):
    attributions: list[Attribution] | None = Field(
        default=None,
        description="With ?explain=true: the row's largest contributions, largest first.",
    )


class ClassPrediction(_Explained):
    label: Any = Field(description="The predicted class, in the target's own values.")
    probabilities: dict[str, float] = Field(description="Probability of each class label.")


class ValuePrediction(_Explained):
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


class ForecastStep(BaseModel):
    timestamp: str = Field(description="The step's time (ISO 8601).")
    step: int = Field(description="Steps ahead of the series' last value (1 = the next).")
    mean: float = Field(description="The point forecast.")
    quantiles: dict[str, float] = Field(description='Forecast quantiles by level ("0.1": ...).')


class SeriesForecast(BaseModel):
    """A forecasting model's answer for one series (docs/forecasting.md)."""

    series: str = Field(description="The series' key.")
    id: dict[str, Any] = Field(description="Its id columns' values.")
    forecast: list[ForecastStep]


class InvocationResponse(BaseModel):
    """One prediction per input row, in input order."""

    model: str = Field(description="The model version that answered, GROUP:VERSION.")
    variant: str = Field(description="The endpoint's variant that answered.")
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
        | SeriesForecast
    ]
    warnings: list[str] = Field(
        default_factory=list,
        description="Unseen categories and other accepted oddities of the input (omitted if none).",
    )
    attribution_units: str | None = Field(
        default=None, description="With ?explain=true: the units of the SHAP values."
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
    400: {"model": ErrorResponse, "description": "Bad body, target variant or model; refused Host"},
    404: {"model": ErrorResponse, "description": "Unknown endpoint (or target model)"},
    403: {"model": ErrorResponse, "description": "An API key for another endpoint"},
    408: {"model": ErrorResponse, "description": "The body did not arrive in time"},
    409: {
        "model": ErrorResponse,
        "description": "Not in a state to answer that (yet); a model that may not serve",
    },
    413: {"model": ErrorResponse, "description": "Body over the size limit"},
    415: {"model": ErrorResponse, "description": "Unsupported content type"},
    422: {"model": ErrorResponse, "description": "Rows that do not match the model signature"},
    503: {"model": ErrorResponse, "description": "The endpoint's model failed to load"},
    507: {"model": ErrorResponse, "description": "A target model over the memory budget"},
}

_JSON_TYPES = ("application/json", "", "*/*")
# /ping says degraded when the loader has not finished a look at the workspace for this long (the
# store is down, or a load hangs).
STALE_AFTER_SECONDS = 30.0
# /ping says degraded for this long after data capture failed to write.
CAPTURE_ALARM_SECONDS = 60.0
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
    metrics = ServingMetrics(workspace)
    shadows = ShadowCopies(metrics)
    capture = CaptureWriter(workspace, registry=metrics.registry)
    review = ReviewQueue(workspace, registry=metrics.registry)  # docs/human-review.md
    max_bytes = settings.max_request_bytes
    body_timeout = settings.request_timeout_seconds
    form_as_json = settings.form_bodies_as_json
    scoring = {"limiter": None}
    keyring = KeyRing(workspace) if settings.require_auth else None
    async_workers = AsyncWorkers(workspace, cache)
    serverless = Serverless(cache, registry=metrics.registry)
    enricher = FeatureEnricher(workspace)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Models load off the event loop: a big model never stalls the server's other clients.
        await anyio.to_thread.run_sync(cache.start)
        serverless.start()
        if keyring is not None:
            await anyio.to_thread.run_sync(keyring.start)
        await anyio.to_thread.run_sync(capture.start)
        review.start()
        metrics.start()
        async_workers.start()
        yield
        await anyio.to_thread.run_sync(async_workers.stop)
        await shadows.drain()
        await serverless.stop()
        if keyring is not None:
            await anyio.to_thread.run_sync(keyring.stop)
        await anyio.to_thread.run_sync(cache.stop)
        await anyio.to_thread.run_sync(metrics.stop)
        await anyio.to_thread.run_sync(capture.stop)  # after the last request: nothing is lost
        await anyio.to_thread.run_sync(review.stop)

    # The /docs and /redoc pages load Swagger UI and ReDoc from the package, not from a CDN, so
    # they work on a machine without internet access.
    app = FastAPIOffline(
        lifespan=lifespan,
        title="kiln endpoints",
        version=kiln.__version__,
        description="Real-time inference for the endpoints of a kiln workspace.",
    )
    app.state.cache = cache
    app.state.metrics = metrics
    app.state.capture = capture
    app.state.review = review
    app.state.keyring = keyring
    app.state.async_workers = async_workers
    app.state.serverless = serverless
    app.state.metrics_registry = registry = metrics.registry
    app.state.multimodels = multimodels = MultiModels(workspace, cache, registry=registry)
    cache.fallbacks = fallback_counter(registry)
    refused = Counter(
        "kiln_requests_refused",
        "Requests refused for their API key or rate limit, by error code.",
        ["code"],
        registry=registry,
    )
    # Innermost: only requests that passed the checks below load a serverless endpoint's model.
    app.add_middleware(ServerlessGate, serverless=serverless)
    # Inside the Host and Origin checks and the CORS preflight, which need no key.
    app.add_middleware(
        Auth, keyring=keyring, client_rate_limit=settings.client_rate_limit, refused=refused
    )
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=[
                "content-type",
                "authorization",
                "x-api-key",
                TARGET_VARIANT_HEADER,
                TARGET_MODEL_HEADER,
                SESSION_HEADER,
            ],
            expose_headers=[
                "x-kiln-variant",
                "x-kiln-model",
                "x-kiln-inference-id",
                COLD_START_HEADER,
            ],
        )
    app.add_middleware(
        Guard,
        allowed_hosts=allowed_hosts_for(host, settings.allowed_hosts),
        max_concurrent=settings.max_concurrent_requests,
        cors_origins=settings.cors_origins,
    )
    app.add_middleware(AccessLog, metrics=metrics)  # outermost: it sees the Guard's answers

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
            # Which server process answered: under --workers N each has its own.
            "pid": os.getpid(),
        }
        failure = capture.last_failure
        if failure is not None and time.monotonic() - failure[0] < CAPTURE_ALARM_SECONDS:
            # Serving goes on, but what it answers is not being recorded: an operator's alarm.
            body["status"] = "degraded"
            body["capture"] = {
                "error": failure[1],
                "seconds_ago": round(time.monotonic() - failure[0], 1),
            }
        if failed or cache.last_store_error or stale > STALE_AFTER_SECONDS:
            body["status"] = "degraded"
        if cache.last_store_error or stale > STALE_AFTER_SECONDS:
            body["workspace"] = {
                "last_look_seconds_ago": round(stale, 1),
                "error": cache.last_store_error,
            }
        return body

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus_metrics() -> Response:
        """Every server process's metrics, in the Prometheus text format, and the model
        monitors' latest metrics and the alarms' states, read from the workspace now."""
        body = await anyio.to_thread.run_sync(metrics_exposition, registry)
        body += await anyio.to_thread.run_sync(_monitoring_exposition, workspace)
        body += await anyio.to_thread.run_sync(async_exposition, workspace)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/endpoints", summary="Served endpoints")
    async def list_endpoints() -> list[dict]:
        loaded, failed = cache.snapshot()
        return [
            {
                "name": e.name,
                "model": e.model_ref if e.live else None,  # a multi-model endpoint: none
                "revision": e.revision,
                "status": "serving",
                "variants": _variants(e),
            }
            for e in sorted(loaded.values(), key=lambda e: e.name)
        ] + [{**failed[n].to_dict(), "status": "failed"} for n in sorted(failed)]

    @app.get(
        "/endpoints/{name}",
        summary="An endpoint, its model and input signature",
        responses={404: _ERRORS[404], 503: _ERRORS[503]},
    )
    async def show_endpoint(name: str) -> dict:
        loaded = await endpoint(name)
        if multimodels.serves(loaded):
            return multimodels.describe(loaded)
        described = {
            "name": loaded.name,
            "model": loaded.model_ref,
            "revision": loaded.revision,
            "variants": _variants(loaded),
            "signature": loaded.schema.signature,
            "input_schema": loaded.schema.json_schema(),
            **serverless.state(loaded),
        }
        if getattr(loaded.schema, "forecasting", False):  # docs/forecasting.md
            model = loaded.model
            count = len(model.series()) if model is not UNLOADED else None
            described["forecasting"] = loaded.schema.describe(count)
        return described

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
                "schema is at GET /endpoints/{name} (input_schema). A forecasting endpoint takes "
                'one object, {"series", "history", "covariates", "horizon"} (each optional).',
            }
        },
    )
    async def invoke(name: str, request: Request, explain: bool = False) -> Response:
        arrived, started = time.time(), time.perf_counter()
        state = request.state
        state.endpoint = name  # for the access log and the metrics
        loaded = await endpoint(name)
        target_model = getattr(state, "target_model", None) or request.headers.get(
            TARGET_MODEL_HEADER
        )
        if target_model is not None or multimodels.serves(loaded):
            variant = await multimodels.variant_for(loaded, target_model)
        else:
            variant = choose_variant(loaded, request.headers)
        state.variant, state.model, state.role = variant.name, variant.model_ref, variant.role
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
        as_json = media_type in _JSON_TYPES
        if as_json and loaded.config.get("features"):  # docs/features.md
            section, inputs = loaded.config["features"], variant.loaded.schema.allowed
            body = await off_loop(enricher.enrich, section, body, inputs)
        if explain and getattr(variant.loaded.schema, "forecasting", False):
            raise forecast_refusal("explain")
        inference_id = uuid.uuid4().hex
        timing: dict[str, float] = {}
        try:
            predictions, warnings = await off_loop(_timed, variant.loaded, body, as_json, timing)
        finally:
            state.model_seconds = timing.get("seconds", 0.0)
        metrics.predictions(name, variant.name, variant.model_ref, predictions)
        units = None
        if explain:  # docs/clarify.md: per-row SHAP attributions
            if variant.loaded.compiled is not None:
                count_fallback(variant.loaded, "explain")
            units = await off_loop(
                partial(explain_predictions, fast_rows=FAST_PATH_MAX_ROWS),
                variant.loaded,
                body,
                as_json,
                predictions,
            )
        payload: dict[str, Any] = {
            "model": variant.model_ref,
            "variant": variant.name,
            "inference_id": inference_id,
            "predictions": predictions,
        }
        if warnings:
            payload["warnings"] = warnings
        if units is not None:
            payload["attribution_units"] = units
        shadow = loaded.shadow
        if shadow is not None and random.random() < shadow.sample:
            shadows.copy(name, shadow, body, as_json, predictions, timing.get("seconds", 0.0))
        response = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        capture.offer(
            endpoint=name,
            variant=variant.name,
            model=variant.model_ref,
            pipeline=variant.loaded.model.pipeline,
            inference_id=inference_id,
            body=body,
            content_type=media_type,
            response=response,
            latency_ms=(time.perf_counter() - started) * 1000,
            timestamp=arrived,
        )
        review.offer(
            endpoint=name,
            config=loaded.config,
            inference_id=inference_id,
            body=body,
            content_type=media_type,
            predictions=predictions,
        )
        return Response(
            response,
            media_type="application/json",
            headers={
                "x-kiln-variant": variant.name,
                "x-kiln-model": variant.model_ref,
                "x-kiln-inference-id": inference_id,
            },
        )

    @app.post(
        "/endpoints/{name}/models/{group}/{version}/invocations",
        summary="Predict with one model of a multi-model endpoint",
        response_model=InvocationResponse,
        response_model_exclude_defaults=True,
        responses=_ERRORS,
    )
    async def invoke_model(
        name: str, group: str, version: str, request: Request, explain: bool = False
    ) -> Response:
        """What ``POST /endpoints/{name}/invocations`` answers with the header
        ``x-kiln-target-model: {group}:{version}`` (``version`` may be an alias)."""
        request.state.target_model = f"{group}:{version}"
        return await invoke(name, request, explain)

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

    @app.post(
        "/endpoints/{name}/actuals",
        summary="Upload actual values of a forecasting endpoint's series",
        responses={s: _ERRORS[s] for s in (400, 404, 408, 413, 422)},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                    "text/csv": {"schema": {"type": "string"}},
                },
                "description": "Rows of the model's id columns, timestamp and target.",
            }
        },
    )
    async def upload_actuals(name: str, request: Request) -> dict:
        """Store the actual values of a forecasting endpoint's series, which forecast-quality
        monitors compare the captured forecasts with (docs/forecasting.md). Answers the counts."""
        from kiln.monitoring import MonitoringService

        await anyio.to_thread.run_sync(workspace.endpoints.get, name)  # unknown: 404 first
        body = await _read_body(request, max_bytes, body_timeout)
        media_type = request.headers.get("content-type", "application/json").split(";")[0]
        rows = actual_rows(body, media_type.strip().lower() in _CSV_TYPES)
        service = MonitoringService(workspace)
        return await anyio.to_thread.run_sync(service.upload_actuals, name, rows)

    app.include_router(async_router(workspace, _ERRORS))
    app.include_router(
        features_router(workspace, _ERRORS, lambda r: _read_body(r, max_bytes, body_timeout))
    )
    return app


def _variants(loaded: LoadedEndpoint) -> list[dict]:
    shares = dict(zip((v.name for v in loaded.live), loaded.bounds, strict=True))
    previous, out = 0.0, []
    for variant in loaded.live:
        out.append(
            {
                "name": variant.name,
                "model": variant.model_ref,
                "role": "live",
                "weight": variant.weight,
                "share": round(shares[variant.name] - previous, 6),
            }
        )
        previous = shares[variant.name]
    if loaded.shadow is not None:
        shadow = loaded.shadow
        out.append(
            {
                "name": shadow.name,
                "model": shadow.model_ref,
                "role": "shadow",
                "sample": shadow.sample,
            }
        )
    return out


def _timed(loaded: LoadedModel, body: bytes, as_json: bool, timing: dict) -> tuple[list, list]:
    """Score in a worker thread, timing the model's part of the request into ``timing``."""
    started = time.perf_counter()
    try:
        if getattr(loaded.schema, "forecasting", False):  # no row pipeline: docs/forecasting.md
            return score_forecast(loaded.model, body, as_json)
        return score_json(loaded, body) if as_json else score_csv(loaded, body)
    finally:
        timing["seconds"] = time.perf_counter() - started


def score_json(loaded: LoadedModel, body: bytes) -> tuple[list, list[str]]:
    """Parse, check and score a JSON body: the predictions and the warnings."""
    try:
        parsed = loaded.schema.parse_json(body)  # orjson, and no key twice
    except orjson.JSONDecodeError as exc:
        raise RequestError(
            f"The body is not valid JSON: {exc}.", code="request.malformed-json"
        ) from None
    rows = loaded.schema.records(parsed)
    if loaded.compiled is not None:
        columns, warnings = loaded.schema.columns_from_records(rows)
        scores = score_compiled(loaded, columns)
        if scores is not None:
            return loaded.model.format_predictions(scores), warnings
    elif loaded.fast is not None and len(rows) <= FAST_PATH_MAX_ROWS:
        columns, warnings = loaded.schema.columns_from_records(rows)
        try:
            scores = loaded.model.score_encoded(loaded.fast.encode(columns))
        except (ValueError, TypeError) as exc:
            raise RequestError(
                f"The model could not score these rows: {cut(str(exc), 300)}",
                code="request.prediction-failed",
            ) from None
        return loaded.model.format_predictions(scores), warnings
    frame, warnings = loaded.schema.frame_from_records(rows)
    return _predict(loaded, frame), warnings


def score_csv(loaded: LoadedModel, body: bytes) -> tuple[list, list[str]]:
    """Parse, check and score a CSV body: the predictions and the warnings."""
    frame, warnings = loaded.schema.frame_from_csv(body)
    if loaded.compiled is not None:
        scores = score_compiled(loaded, request_columns(frame, loaded.model.signature))
        if scores is not None:
            return loaded.model.format_predictions(scores), warnings
    return _predict(loaded, frame), warnings


def _predict(loaded: LoadedModel, frame) -> list:
    try:
        return loaded.model.predictions(frame)
    except (ValueError, TypeError) as exc:
        raise RequestError(
            f"The model could not score these rows: {cut(str(exc), 300)}",
            code="request.prediction-failed",
        ) from None


def actual_rows(body: bytes, as_csv: bool):
    """The rows of an actuals upload: a JSON list of row objects, or CSV with a header."""
    if as_csv:
        import pandas as pd

        try:
            return pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""])
        except (ValueError, pd.errors.ParserError) as exc:
            raise RequestError(
                f"The CSV body cannot be read: {cut(str(exc), 200)}.", code="request.bad-body"
            ) from None
    try:
        rows = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(
            f"The body is not valid JSON: {exc}.", code="request.malformed-json"
        ) from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise RequestError(
            "Actuals are a JSON list of row objects (the model's id columns, timestamp and "
            "target), or CSV rows with a header.",
            code="request.bad-body",
        )
    return rows


def choose_variant(loaded: LoadedEndpoint, headers) -> LoadedVariant:
    """The live variant that answers: the one the caller names in X-Kiln-Target-Variant, else
    by weight — at random, or by the X-Kiln-Session-Id header when sent, so that one caller
    stays on one variant while the weights stay the same (a sticky A/B test)."""
    target = headers.get(TARGET_VARIANT_HEADER)
    if target is not None:
        variant = loaded.variant(target.strip())
        if variant is None:
            names = ", ".join(v.name for v in loaded.live)
            error = RequestError(
                f"Endpoint {loaded.name!r} has no live variant {cut(target, 100)!r} (from the "
                f"{TARGET_VARIANT_HEADER} header). Its live variants: {names}.",
                code="request.unknown-variant",
                field=TARGET_VARIANT_HEADER,
            )
            error.http_status = 400
            raise error
        return variant
    if len(loaded.live) == 1:
        return loaded.live[0]
    session = headers.get(SESSION_HEADER)
    if session:
        digest = hashlib.blake2b(session.encode(errors="replace"), digest_size=8).digest()
        return loaded.route(int.from_bytes(digest, "big") / 2**64)
    return loaded.route(random.random())


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
