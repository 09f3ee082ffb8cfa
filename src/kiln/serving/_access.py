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

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
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
            client = scope.get("client")
            log.info(
                '%s "%s %s" endpoint=%s variant=%s %d %.1f ms',
                client[0] if client else "-",
                scope.get("method"),
                scope.get("path"),
                state.get("endpoint", "-"),
                state.get("variant", "-"),
                status,
                (time.perf_counter() - started) * 1000,
            )
