"""The access log: one line per request, written once the response has been sent."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("kiln.serving.access")


class AccessLog:
    """ASGI middleware logging method, path, endpoint, variant, status and latency of each
    request at INFO on ``kiln.serving.access``.

    The line is written after the last byte of the response went out, so the client never waits
    for it; a disabled logger costs one level check. The endpoint and variant are what the
    handler put in the request's state (``-`` for other paths)."""

    def __init__(self, app, metrics=None) -> None:
        self.app = app
        self.metrics = metrics  # ServingMetrics: each answered request of a variant is counted

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        status = 500  # what the client sees when the app fails before answering

        async def recording_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            elapsed = time.perf_counter() - started
            if self.metrics is not None and "model" in state:
                self.metrics.request(
                    state["endpoint"],
                    state["variant"],
                    state["model"],
                    status=status,
                    total_seconds=elapsed,
                    model_seconds=state.get("model_seconds", 0.0),
                )
            if log.isEnabledFor(logging.INFO):
                _log_line(scope, state, status, elapsed)


def _log_line(scope, state, status: int, elapsed: float) -> None:
    client = scope.get("client")
    log.info(
        '%s "%s %s" endpoint=%s variant=%s %d %.1f ms',
        client[0] if client else "-",
        scope.get("method"),
        scope.get("path"),
        state.get("endpoint", "-"),
        state.get("variant", "-"),
        status,
        elapsed * 1000,
    )
