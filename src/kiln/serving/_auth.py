"""API keys and rate limits in front of the serving app, as plain ASGI middleware.

Requests never read the metadata store: a :class:`KeyRing` thread reads the keys table once a
second (its own thread, not the endpoint loader's, which may spend minutes loading a model while
a revocation waits), and each process verifies a key's secret once, then remembers it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from kiln.context import Context
from kiln.errors import RequestError
from kiln.keys import KeyVerifier, split_key
from kiln.serving._guard import headers_of, send_json
from kiln.serving._validation import cut

log = logging.getLogger("kiln.serving")

REFRESH_SECONDS = 1.0
# Paths answered without a key: the health check (load balancers carry no key) and the OpenAPI
# pages, which describe the API's shape and no endpoint's name or model.
OPEN_PATHS = frozenset(("/ping", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"))
OPEN_PREFIXES = ("/static-offline-docs/",)
# Paths of one endpoint's records that do not name it (an asynchronous invocation by its id): a
# key for one endpoint passes here, and the route refuses it for another endpoint's records.
ROUTE_CHECKED_PREFIXES = ("/async-invocations/",)
# Verified and refused secrets remembered per process (by key id and SHA-256 of the secret), so
# a key's PBKDF2 hash is computed once, not per request, and a wrong secret sent again is cheap.
_REMEMBERED_SECRETS = 10_000
_REMEMBERED_CLIENTS = 10_000


def _refusal(status: int, message: str, *, code: str) -> RequestError:
    error = RequestError(message, code=code)
    error.http_status = status
    return error


class TokenBucket:
    """``rate`` requests per second on average, ``burst`` at once."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, now

    def take(self, now: float) -> float:
        """Spend one token: 0 when there was one, else the seconds until there is."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def bucket_for(rate: float, now: float) -> TokenBucket:
    """A bucket for ``rate`` requests per second, allowing bursts of one second's worth."""
    return TokenBucket(rate, max(1.0, rate), now)


class KeyRing:
    """The workspace's API keys as this server process last read them, and the secrets it has
    already verified."""

    def __init__(self, workspace: Context, *, refresh_seconds: float = REFRESH_SECONDS):
        self.workspace = workspace
        self.refresh_seconds = refresh_seconds
        self._verifiers: dict[str, KeyVerifier] | None = None  # replaced whole by the thread
        self._verified: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._refused: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- the refresh thread -----------------------------------------------------------------------
    def start(self) -> None:
        """Read the keys once, then again every ``refresh_seconds`` in a daemon thread."""
        with self._lock:
            if self._thread is not None:
                return
            self.refresh()
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name="kiln-key-loader", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            if self._thread is None:
                return
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.refresh_seconds):
            self.refresh()

    def refresh(self) -> None:
        """Read every key; on failure keep what was read last (and say so once)."""
        try:
            self._verifiers = self.workspace.keys.verifiers()
        except Exception as exc:  # the store is down: keep the keys known so far
            message = f"{type(exc).__name__}: {cut(str(exc), 300)}"
            if message != self.last_error:
                log.exception("Could not read the workspace's API keys")
            self.last_error = message
        else:
            self.last_error = None

    @property
    def count(self) -> int:
        """Keys known, revoked ones included."""
        return len(self._verifiers or {})

    # -- checking, from requests ------------------------------------------------------------------
    def check(
        self, key: str | None, endpoint: str | None, path: str, *, any_endpoint: bool = False
    ) -> KeyVerifier:
        """The key's record when it may call ``endpoint`` (None: a path of no one endpoint, which
        needs a key for every endpoint, unless ``any_endpoint``: the route checks the key's
        endpoint itself); raises the 401 or 403 to answer otherwise."""
        if not key:
            raise _refusal(
                401,
                "This server requires an API key. Send it as 'Authorization: Bearer KEY' or "
                "'X-Api-Key: KEY'; create one with 'kiln keys create'.",
                code="auth.missing-key",
            )
        if self._verifiers is None and self._thread is None:  # no lifespan ran: read them here
            self.refresh()
        parts = split_key(key)
        verifier = (self._verifiers or {}).get(parts[0]) if parts else None
        if parts is None or verifier is None or not self._secret_matches(verifier, parts[1]):
            raise _refusal(
                403,
                "The API key is not valid. Check that it was copied whole (kiln_<id>_<secret>); "
                "'kiln keys list' shows the ids of the workspace's keys, and a key created a "
                "moment ago is accepted within a second.",
                code="auth.bad-key",
            )
        if verifier.revoked_at is not None:
            raise _refusal(
                403,
                f"The API key {verifier.id} was revoked at {verifier.revoked_at:%Y-%m-%d %H:%M:%S} "
                "UTC. Create another with 'kiln keys create'.",
                code="auth.revoked-key",
            )
        if verifier.endpoint is not None and verifier.endpoint != endpoint and not any_endpoint:
            wanted = (
                f"endpoint {cut(endpoint, 100)!r}"
                if endpoint is not None
                else f"{cut(path, 100)}, which needs a key for every endpoint"
            )
            raise _refusal(
                403,
                f"The API key {verifier.id} is for endpoint {verifier.endpoint!r} only, not "
                f"{wanted}. Use a key for it ('kiln keys create --endpoint NAME', or without "
                "--endpoint for every endpoint).",
                code="auth.wrong-endpoint",
            )
        return verifier

    def _secret_matches(self, verifier: KeyVerifier, secret: str) -> bool:
        memo = (verifier.id, hashlib.sha256(secret.encode()).digest())
        if memo in self._verified:
            return True
        if memo in self._refused:
            return False
        matches = verifier.matches(secret)
        remembered = self._verified if matches else self._refused
        remembered[memo] = None
        while len(remembered) > _REMEMBERED_SECRETS:
            remembered.popitem(last=False)
        return matches


def presented_key(scope) -> str | None:
    """The key a request carries: ``Authorization: Bearer KEY``, else ``X-Api-Key: KEY``."""
    headers = headers_of(scope)
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.decode("latin-1").strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get(b"x-api-key")
    return key.decode("latin-1").strip() if key is not None else None


def endpoint_of(path: str) -> str | None:
    """The endpoint a path is about (``/endpoints/NAME/...``), or None."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "endpoints" and parts[2]:
        return parts[2]
    return None


class Auth:
    """Refuse requests without a valid key for their endpoint (when ``keyring`` is set), and
    requests past their key's or their client address's rate limit (429 with ``Retry-After``).

    ``refused`` counts refusals by code (a prometheus ``Counter`` with a ``code`` label)."""

    def __init__(
        self,
        app,
        *,
        keyring: KeyRing | None,
        client_rate_limit: float = 0.0,
        refused=None,
        open_paths: Iterable[str] = OPEN_PATHS,
    ):
        self.app = app
        self.keyring = keyring
        self.client_rate_limit = client_rate_limit
        self.refused = refused
        self.open_paths = frozenset(open_paths)
        self._key_buckets: dict[str, TokenBucket] = {}
        self._client_buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        try:
            if self.client_rate_limit and path != "/ping":
                self._limit_client(scope)
            if self.keyring is not None and not self._is_open(path):
                verifier = self.keyring.check(
                    presented_key(scope),
                    endpoint_of(path),
                    path,
                    any_endpoint=path.startswith(ROUTE_CHECKED_PREFIXES),
                )
                scope.setdefault("state", {})["api_key"] = verifier.id
                scope["state"]["key_endpoint"] = verifier.endpoint
                if verifier.rate_limit:
                    self._limit_key(verifier)
        except RequestError as refusal:
            await self._refuse(send, refusal)
            return
        await self.app(scope, receive, send)

    def _is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(OPEN_PREFIXES)

    def _limit_key(self, verifier: KeyVerifier) -> None:
        now = time.monotonic()
        bucket = self._key_buckets.get(verifier.id)
        if bucket is None or bucket.rate != verifier.rate_limit:
            bucket = self._key_buckets[verifier.id] = bucket_for(verifier.rate_limit, now)
        wait = bucket.take(now)
        if wait:
            error = _refusal(
                429,
                f"The API key {verifier.id} is limited to {verifier.rate_limit:g} requests per "
                f"second. Retry in {math.ceil(wait)} s, or ask for a key with a higher limit.",
                code="auth.rate-limited",
            )
            error.retry_after = wait
            raise error

    def _limit_client(self, scope) -> None:
        client = scope.get("client")
        address = client[0] if client else "-"
        now = time.monotonic()
        bucket = self._client_buckets.get(address)
        if bucket is None:
            bucket = self._client_buckets[address] = bucket_for(self.client_rate_limit, now)
            while len(self._client_buckets) > _REMEMBERED_CLIENTS:
                self._client_buckets.popitem(last=False)
        else:
            self._client_buckets.move_to_end(address)
        wait = bucket.take(now)
        if wait:
            error = _refusal(
                429,
                f"Requests from {cut(address, 60)} are limited to {self.client_rate_limit:g} per "
                f"second (client_rate_limit in kiln.toml). Retry in {math.ceil(wait)} s.",
                code="server.rate-limited",
            )
            error.retry_after = wait
            raise error

    async def _refuse(self, send, refusal: RequestError) -> None:
        headers = []
        if refusal.http_status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="kiln"'))
        retry_after = getattr(refusal, "retry_after", None)
        if retry_after is not None:
            headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
        if self.refused is not None:
            self.refused.labels(refusal.code).inc()
        await send_json(send, refusal.http_status, refusal.to_dict(), headers=headers)
