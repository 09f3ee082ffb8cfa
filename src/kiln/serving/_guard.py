"""ASGI middleware in front of the serving app: the Host check and the last-resort 500.

Written as plain ASGI rather than with Starlette's TrustedHostMiddleware and exception handlers:
both answer with bodies outside kiln's error contract (plain text; the exception's own text), and
a handler registered for ``Exception`` re-raises after answering, which makes uvicorn drop the
keep-alive connection, so the client's next request fails too.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import Iterable

import orjson
from starlette.requests import ClientDisconnect

from kiln.serving._validation import cut

log = logging.getLogger("kiln.serving")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_ANY_ADDRESS = ("0.0.0.0", "::", "")


def allowed_hosts_for(bind_host: str, configured: Iterable[str] = ()) -> frozenset[str] | None:
    """The Host header values a server bound to ``bind_host`` answers; None means any.

    Loopback always; the bind address itself; and the configured ``allowed_hosts``. A server bound
    to every interface accepts any Host unless ``allowed_hosts`` is set (it cannot know its own
    names). ``*`` in ``allowed_hosts`` turns the check off.
    """
    configured = [host_name(h) for h in configured]
    if "*" in configured:
        return None
    if bind_host in _ANY_ADDRESS and not configured:
        return None
    names = {*LOOPBACK_NAMES, *configured}
    if bind_host not in _ANY_ADDRESS:
        names.add(host_name(bind_host))
    return frozenset(names)


def host_name(header: str) -> str:
    """The host of a Host header or a configured name, comparable: ``Example.com.:8080`` →
    ``example.com``; ``[0:0::1]:8080`` → ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        header = header[1 : header.find("]")] if "]" in header else header[1:]
    elif header.count(":") == 1:
        header = header.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(header))
    except ValueError:
        return header.rstrip(".")


_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def headers_of(scope) -> dict[bytes, bytes]:
    """The request's headers by lower-case name (ASGI servers give names in lower case)."""
    return dict(scope.get("headers") or ())


async def send_json(send, status: int, payload: dict, headers: Iterable = ()) -> None:
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Refuse foreign Host headers (DNS rebinding) and requests past the concurrency limit; turn
    an internal bug into a generic 500."""

    def __init__(
        self,
        app,
        *,
        allowed_hosts: frozenset[str] | None,
        max_concurrent: int,
        cors_origins: Iterable[str] = (),
    ):
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.max_concurrent = max_concurrent
        self.cors_origins = frozenset(o.rstrip("/").lower() for o in cors_origins)
        self.in_flight = 0  # the event loop is one thread: a plain counter is safe

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed_hosts is not None:
            raw = headers_of(scope).get(b"host")
            # No Host at all (HTTP/1.0 health checkers) is no rebinding: a browser always sends one.
            host = host_name(raw.decode("latin-1")) if raw is not None else None
            if host is not None and host not in self.allowed_hosts:
                shown = host[:100] or "(none)"
                await send_json(
                    send,
                    400,
                    {
                        "error": "request.bad-host",
                        "detail": f"This server does not answer for the host {shown!r}. It "
                        f"answers {', '.join(sorted(self.allowed_hosts))}; add the name to "
                        "allowed_hosts in kiln.toml if it is yours.",
                        "field": "host",
                    },
                )
                return
        if scope.get("method") not in _SAFE_METHODS:
            origin = headers_of(scope).get(b"origin")
            if origin is not None and not self._origin_allowed(origin.decode("latin-1"), scope):
                await send_json(
                    send,
                    403,
                    {
                        "error": "request.bad-origin",
                        "detail": f"A web page from {cut(origin.decode('latin-1'), 100)!r} may "
                        "not call this server. Add the origin to cors_origins in kiln.toml if "
                        "it is yours.",
                        "field": "origin",
                    },
                )
                return
        # /ping stays outside the cap: a load balancer must see a busy server as alive.
        if self.in_flight >= self.max_concurrent and scope.get("path") != "/ping":
            await send_json(
                send,
                503,
                {
                    "error": "server.busy",
                    "detail": f"The server is handling {self.in_flight} requests, its limit "
                    "(max_concurrent_requests in kiln.toml). Retry shortly.",
                },
                headers=[(b"retry-after", b"1")],
            )
            return
        self.in_flight += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _origin_allowed(self, origin: str, scope) -> bool:
        """A browser's cross-site POST (a form, a no-cors fetch) carries its page's Origin: only
        the server's own pages and the configured ``cors_origins`` may invoke it."""
        if origin.rstrip("/").lower() in self.cors_origins:
            return True
        own = headers_of(scope).get(b"host", b"").decode("latin-1").lower()
        return bool(own) and origin.lower().split("://", 1)[-1].rstrip("/") == own

    async def _guarded(self, scope, receive, send) -> None:
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:  # the client left mid-body: nobody to answer, nothing broken
            log.debug("Client disconnected during %s %s", scope.get("method"), scope.get("path"))
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception(
                "Internal error %s on %s %s", error_id, scope.get("method"), scope.get("path")
            )
            if started:  # too late for a response: the connection has to go
                raise
            await send_json(
                send,
                500,
                {
                    "error": "internal",
                    "detail": f"An internal error occurred (error id {error_id}). This is a bug "
                    "in kiln, not in the request: the server's log has the details under that "
                    "id; please report it.",
                    "error_id": error_id,
                },
            )
