"""The online store: the latest record of each id of each online feature group, for reads one id
at a time. SQLite in the workspace by default, Redis when ``KILN_ONLINE_STORE=redis://...``.

Both keep, per (group, id), the record with the latest event time; a record whose event time is
older than the kept one goes to the offline store only (as SageMaker's). At equal event times the
later write (the greater write time, not the later arrival) wins, as in the point-in-time join.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from kiln.errors import ConfigError

__all__ = ["OnlineStore", "RedisOnlineStore", "SQLiteOnlineStore", "open_online_store"]

# One record to write: (record id as text, event time and its ingest's write time in
# microseconds, payload as JSON bytes, the time it expires at in microseconds or None).
Entry = tuple[str, int, int, bytes, int | None]


class OnlineStore(Protocol):
    """What the feature service needs of an online store."""

    url: str

    def check(self) -> None:
        """Raise ``feature.online-unavailable`` when the store does not answer."""

    def write(self, group: str, entries: list[Entry]) -> None: ...

    def read(self, group: str, record_id: str) -> tuple[int, bytes] | None: ...

    def read_many(self, group: str, record_ids: list[str]) -> list[tuple[int, bytes] | None]: ...


def open_online_store(url: str | None, home: Path, *, namespace: str) -> OnlineStore:
    """The online store a workspace's settings name: ``None`` is SQLite at ``home/online.db``.
    ``namespace`` keeps workspaces sharing one Redis server apart."""
    if url is None or url.startswith("sqlite:"):
        path = home / "online.db" if url is None else Path(url.split("///", 1)[-1])
        return SQLiteOnlineStore(path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisOnlineStore(url, namespace=namespace)
    raise ConfigError(
        f"The online store {hide_password(url)!r} (KILN_ONLINE_STORE or online_store in "
        "kiln.toml) is neither a redis:// URL nor sqlite:///PATH. Leave it unset for SQLite in "
        "the workspace.",
        code="feature.bad-online-store",
    )


def hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class SQLiteOnlineStore:
    """Records in their own SQLite file (WAL), apart from the metadata store, so online reads
    and writes never wait on it. One connection per thread (sqlite3's rule)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._local = threading.local()
        with self._connection() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS records (grp TEXT NOT NULL, id TEXT NOT NULL, "
                "event_us INTEGER NOT NULL, expires_us INTEGER, payload BLOB NOT NULL, "
                "write_us INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (grp, id)) WITHOUT ROWID"
            )
            columns = [row[1] for row in connection.execute("PRAGMA table_info(records)")]
            if "write_us" not in columns:  # a store written before write times were kept
                connection.execute(
                    "ALTER TABLE records ADD COLUMN write_us INTEGER NOT NULL DEFAULT 0"
                )

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    def check(self) -> None:
        """A file in the workspace: always there."""

    def write(self, group: str, entries: list[Entry]) -> None:
        with self._connection() as connection:
            connection.executemany(
                "INSERT INTO records (grp, id, event_us, write_us, expires_us, payload) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (grp, id) DO UPDATE SET "
                "event_us = excluded.event_us, write_us = excluded.write_us, "
                "expires_us = excluded.expires_us, payload = excluded.payload "
                "WHERE (excluded.event_us, excluded.write_us) >= "
                "(records.event_us, records.write_us)",
                [
                    (group, key, event, write, expires, payload)
                    for key, event, write, payload, expires in entries
                ],
            )

    def read(self, group: str, record_id: str) -> tuple[int, bytes] | None:
        row = (
            self._connection()
            .execute(
                "SELECT event_us, payload FROM records WHERE grp = ? AND id = ?", (group, record_id)
            )
            .fetchone()
        )
        return None if row is None else (row[0], row[1])

    def read_many(self, group: str, record_ids: list[str]) -> list[tuple[int, bytes] | None]:
        return [self.read(group, record_id) for record_id in record_ids]


# Compare-and-set in one round trip: the record replaces the kept one unless the kept one is
# later, by event time and then by write time. Redis has no conditional HSET, so this small
# script is kiln's own.
_WRITE_SCRIPT = """
local kept = redis.call('HMGET', KEYS[1], 'e', 'w')
if kept[1] then
  local event, write = tonumber(kept[1]), tonumber(kept[2] or '0')
  local new_event, new_write = tonumber(ARGV[1]), tonumber(ARGV[2])
  if event > new_event or (event == new_event and write > new_write) then return 0 end
end
redis.call('HSET', KEYS[1], 'e', ARGV[1], 'w', ARGV[2], 'p', ARGV[3])
if ARGV[4] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[4])
else redis.call('PERSIST', KEYS[1]) end
return 1
"""


class RedisOnlineStore:
    """Records as Redis hashes ``kiln:NAMESPACE:GROUP:ID`` (fields ``e``, the event time, ``w``,
    its ingest's write time, and ``p``, the JSON record), expiring at their TTL."""

    def __init__(self, url: str, *, namespace: str):
        import redis

        self.url = url
        self._prefix = f"kiln:{namespace}"
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        self.check()
        self._write = self._redis.register_script(_WRITE_SCRIPT)

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """Redis' connection errors as ``feature.online-unavailable``, naming the URL: the
        server may stop answering after the store was opened."""
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise ConfigError(
                f"The Redis online store {hide_password(self.url)!r} does not answer: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. Start the "
                "server, or fix KILN_ONLINE_STORE (unset it for SQLite in the workspace).",
                code="feature.online-unavailable",
            ) from exc

    def check(self) -> None:
        with self._answering():
            self._redis.ping()

    def _key(self, group: str, record_id: str) -> str:
        return f"{self._prefix}:{group}:{record_id}"

    def write(self, group: str, entries: list[Entry]) -> None:
        batch = 10_000
        with self._answering():
            for start in range(0, len(entries), batch):
                pipe = self._redis.pipeline(transaction=False)
                for key, event, write, payload, expires in entries[start : start + batch]:
                    expires_ms = "" if expires is None else str(expires // 1000)
                    self._write(
                        keys=[self._key(group, key)],
                        args=[event, write, payload, expires_ms],
                        client=pipe,
                    )
                pipe.execute()

    def read(self, group: str, record_id: str) -> tuple[int, bytes] | None:
        with self._answering():
            found = self._redis.hmget(self._key(group, record_id), ["e", "p"])
        if found[0] is None:
            return None
        return int(found[0]), found[1]

    def read_many(self, group: str, record_ids: list[str]) -> list[tuple[int, bytes] | None]:
        pipe = self._redis.pipeline(transaction=False)
        for record_id in record_ids:
            pipe.hmget(self._key(group, record_id), ["e", "p"])
        with self._answering():
            found = pipe.execute()
        return [None if e is None else (int(e), p) for e, p in found]
