"""API keys for the serving API: created once, stored as a salted hash, revoked by id."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from kiln.errors import ConfigError, NotFound
from kiln.refs import check_name
from kiln.store import ApiKeyRow, Record, new_id, now, who

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["ApiKey", "KeyService", "KeyVerifier", "NewApiKey", "split_key"]

KEY_PREFIX = "kiln_"
# PBKDF2-HMAC-SHA256 rather than scrypt, and few iterations, on purpose. A key's secret is 256
# random bits (secrets.token_urlsafe(32)), not a password: nobody can guess it whatever the hash
# costs, so stretching buys nothing. The salted hash is there so that a copy of the database holds
# no usable key and no lookup table fits it. What the cost does matter for is the server: each
# key is verified once per process and then cached, but a flood of wrong secrets is hashed each
# time, and scrypt's 16 MiB and ~0.1 s per guess would let it exhaust a small machine. PBKDF2 is
# in hashlib, and its parameters are stored with each hash, so they can be raised later.
_ALGORITHM = "pbkdf2-sha256"
_ITERATIONS = 1000


@dataclass(frozen=True)
class ApiKey(Record):
    """An API key as stored: everything but its secret, which only its holder knows."""

    id: str
    name: str | None
    endpoint: str | None  # None: every endpoint
    rate_limit: float | None  # requests per second; None: unlimited
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_dict(self) -> dict:
        return self._plain() | {"status": "revoked" if self.revoked else "active"}


@dataclass(frozen=True)
class NewApiKey(ApiKey):
    """A key just created: ``key`` is the whole key to send (``kiln_<id>_<secret>``), shown this
    once and never stored."""

    key: str = ""


@dataclass(frozen=True)
class KeyVerifier:
    """A key as a server checks it: its salted hash, scope, limit and revocation."""

    id: str
    endpoint: str | None
    salt: str
    secret_hash: str
    rate_limit: float | None
    revoked_at: datetime | None

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` is this key's (a constant-time compare of the hashes)."""
        return hmac.compare_digest(hash_secret(secret, self.salt), self.secret_hash)


def hash_secret(secret: str, salt: str) -> str:
    """The hex digest stored for ``secret``; ``salt`` is ``ALGORITHM:ITERATIONS:SALT_HEX``."""
    algorithm, iterations, salt_hex = salt.split(":")
    if algorithm != _ALGORITHM:
        raise ValueError(f"unknown key hash {algorithm!r}")
    salt_bytes = bytes.fromhex(salt_hex)
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt_bytes, int(iterations)).hex()


def split_key(key: str) -> tuple[str, str] | None:
    """``kiln_<id>_<secret>`` → ``(id, secret)``; None for anything else."""
    if not key.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


def _check_rate_limit(rate_limit: float | None) -> float | None:
    if rate_limit is None:
        return None
    try:
        value = float(rate_limit)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(rate_limit, bool) or not (0 < value < math.inf):
        raise ConfigError(
            f"The rate limit of a key must be a number of requests per second above 0. Got "
            f"{rate_limit!r}. Leave it out for no limit; revoke a key to refuse it everything.",
            code="keys.bad-rate-limit",
        )
    return value


class KeyService:
    """``ws.keys``: the API keys a ``kiln serve --require-auth`` accepts."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def create(
        self,
        *,
        endpoint: str | None = None,
        name: str | None = None,
        rate_limit: float | None = None,
    ) -> NewApiKey:
        """Create a key, for one endpoint or (``endpoint=None``) for every endpoint.

        The returned record's ``key`` is the whole key, shown this once: only a salted hash of its
        secret is stored. ``endpoint`` need not exist yet (a key may be handed out before the
        endpoint is deployed). ``rate_limit`` caps the key at that many requests per second, with
        bursts of up to one second's worth.
        """
        if endpoint is not None:
            check_name(endpoint, what="endpoint")
        if name is not None and len(name) > 200:
            raise ConfigError(
                f"A key's name must be at most 200 characters. Got {len(name)}.",
                code="keys.bad-name",
            )
        rate_limit = _check_rate_limit(rate_limit)
        key_id = new_id("key")
        secret = secrets.token_urlsafe(32)
        salt = f"{_ALGORITHM}:{_ITERATIONS}:{secrets.token_hex(16)}"
        row = ApiKeyRow(
            id=key_id,
            name=name,
            endpoint=endpoint,
            salt=salt,
            secret_hash=hash_secret(secret, salt),
            rate_limit=rate_limit,
            created_at=now(),
            created_by=who(),
            revoked_at=None,
        )
        with self._ws.store.write() as session:
            session.add(row)
            session.flush()
            record = ApiKey._from_row(row)
        return NewApiKey(**record.__dict__, key=f"{KEY_PREFIX}{key_id}_{secret}")

    def get(self, key_id: str) -> ApiKey:
        with self._ws.store.read() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFound(
                    f"No API key with id {key_id[:100]!r}. See 'kiln keys list' (the id is the "
                    "part after 'kiln_' and before the next '_').",
                    code="keys.unknown-key",
                )
            return ApiKey._from_row(row)

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self._ws.store.read() as session:
            rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)).all()
            return [ApiKey._from_row(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key: a running server refuses it within a second. Revoking a revoked key
        changes nothing (its first revocation time stays)."""
        self.get(key_id)
        with self._ws.store.write() as session:
            row = session.get(ApiKeyRow, key_id)
            if row.revoked_at is None:
                row.revoked_at = now()
            session.flush()
            return ApiKey._from_row(row)

    def verifiers(self) -> dict[str, KeyVerifier]:
        """What a server checks keys against, by key id: one cheap read of the whole table."""
        columns = (
            ApiKeyRow.id,
            ApiKeyRow.endpoint,
            ApiKeyRow.salt,
            ApiKeyRow.secret_hash,
            ApiKeyRow.rate_limit,
            ApiKeyRow.revoked_at,
        )
        with self._ws.store.read() as session:
            rows = session.execute(select(*columns)).all()
        return {
            r.id: KeyVerifier(r.id, r.endpoint, r.salt, r.secret_hash, r.rate_limit, r.revoked_at)
            for r in rows
        }
