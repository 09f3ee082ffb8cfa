"""The Studio app: the JSON API under ``/api``, the UI's static files, and the server that runs
them (``kiln ui``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

import kiln
from kiln.errors import KilnError
from kiln.serving import Guard, allowed_hosts_for
from kiln.studio import (
    _api_admin,
    _api_canvas,
    _api_data,
    _api_endpoints,
    _api_experiments,
    _api_jobs,
    _api_labeling,
    _api_models,
    _api_monitoring,
    _api_pipelines,
)
from kiln.studio._http import json_response
from kiln.workspace import Workspace

STATIC = Path(str(files("kiln.studio") / "static"))
PLOTLY = Path(str(files("kiln.reports") / "plotly-cartesian.min.js"))

# The UI loads nothing from elsewhere: a page that tried would fail here, not work online only.
# Plotly sets inline styles on its charts; reports (self-contained HTML) open in a sandboxed frame
# whose own response sets its own policy.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'self'"
)


class _SecurityHeaders:
    """Pure ASGI (no BaseHTTPMiddleware: streamed logs pass through untouched): the content
    security policy on pages, and no caching of API answers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"same-origin"))
                if path.startswith("/api/") and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_studio_app(workspace: Workspace | None = None, *, host: str = "127.0.0.1") -> FastAPI:
    """The Studio app for ``workspace`` (the default one when omitted). ``host`` is the address
    the server binds: Host headers other than it and loopback are refused (DNS rebinding)."""
    workspace = workspace or Workspace()
    app = FastAPIOffline(
        title="kiln Studio API",
        version=kiln.__version__,
        description=(
            "The JSON API behind kiln Studio: data sets, jobs, experiments, models, endpoints, "
            "monitors, pipelines, labelling jobs, users and the audit log. Lists are paged on "
            "the server (limit, offset, sort, q). Sign in with a session (POST /api/session) or "
            "send 'Authorization: Bearer TOKEN' (kiln users token NAME)."
        ),
    )
    app.state.workspace = workspace
    for module in (
        _api_admin,
        _api_data,
        _api_jobs,
        _api_experiments,
        _api_models,
        _api_endpoints,
        _api_monitoring,
        _api_pipelines,
        _api_canvas,
        _api_labeling,
    ):
        app.include_router(module.router, prefix="/api")

    @app.exception_handler(KilnError)
    async def _kiln_error(_request: Request, exc: KilnError) -> Response:
        return json_response(exc.to_dict(), exc.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = "http.not-found" if exc.status_code == 404 else f"http.{exc.status_code}"
        return json_response({"error": code, "detail": str(exc.detail)[:200]}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        return json_response({"error": "request.invalid", "detail": problems[:1000]}, 422)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/static/plotly.js", include_in_schema=False)
    def plotly() -> FileResponse:
        return FileResponse(PLOTLY, media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(
        Guard,
        allowed_hosts=allowed_hosts_for(host, workspace.settings.allowed_hosts),
        max_concurrent=workspace.settings.max_concurrent_requests,
    )
    return app


def studio_config(
    workspace: Workspace, *, host: str = "127.0.0.1", port: int = 8765, log_level: str = "info"
) -> uvicorn.Config:
    """The uvicorn configuration ``kiln ui`` runs."""
    return uvicorn.Config(
        create_studio_app(workspace, host=host),
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )


def serve_ui(
    workspace: Workspace, *, host: str = "127.0.0.1", port: int = 8765, log_level: str = "info"
) -> None:
    """Run Studio until interrupted."""
    uvicorn.Server(studio_config(workspace, host=host, port=port, log_level=log_level)).run()
