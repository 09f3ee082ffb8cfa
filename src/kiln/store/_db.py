"""Engine set-up, migrations and sessions for the metadata store."""

from __future__ import annotations

import getpass
import json
import re
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import JSON, String, Text, create_engine, event, func, select, text
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from kiln.errors import ConfigError
from kiln.store._tables import Base, LineageRow

# The newest migration in migrations/versions; a test checks it matches Alembic's head.
SCHEMA_REVISION = "0014"
_MIGRATIONS = Path(__file__).parent / "migrations"
_DIGEST = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_NOT_REFERENCES = {"job_logs", "job_metrics", "lineage", "alembic_version"}


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# The person a Studio request acts for: what :func:`who` records instead of the OS user while it
# is set (see :func:`acting_as`). A context variable, so each request's thread sees its own.
_ACTING_USER: ContextVar[str | None] = ContextVar("kiln_acting_user", default=None)


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    """Record ``user`` as the maker of every record written inside the block (``created_by``,
    approvals, deployments): what Studio wraps each request's SDK calls in."""
    token = _ACTING_USER.set(user)
    try:
        yield
    finally:
        _ACTING_USER.reset(token)


def who() -> str:
    """Who is acting: the Studio user a request acts for, else ``OS user@host``."""
    acting = _ACTING_USER.get()
    if acting is not None:
        return acting
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _sqlite_engine(url: str, *, immediate: bool):
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, issue BEGIN, so writes can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # BEGIN IMMEDIATE takes the write lock at the start, so two writers queue on busy_timeout
        # instead of one failing with "database is locked" when it upgrades a read lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# Every write transaction on PostgreSQL first takes this transaction-scoped advisory lock, so
# writers queue one after another as they do on SQLite (BEGIN IMMEDIATE). The services read,
# then write (the next version number, "is this name taken?"): under PostgreSQL's READ COMMITTED
# two such writers would otherwise both read the same state and one would fail on a unique
# constraint. Readers never take it.
_WRITE_LOCK_KEY = 0x6B696C6E  # "kiln"
_TAKE_WRITE_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
# Seconds to wait for a PostgreSQL server to answer before saying it cannot be reached (libpq
# waits forever by default); a connect_timeout in the URL wins.
_CONNECT_TIMEOUT_SECONDS = 5


def store_url(url: str) -> str:
    """The SQLAlchemy URL of ``url``: ``postgresql://`` (and ``postgres://``) mean the psycopg 3
    driver kiln installs (``pip install 'kiln[postgres]'``), not SQLAlchemy's default psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def safe_url(url: str) -> str:
    """``url`` as it may be shown: any password replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


class Store:
    """Sessions over the metadata database; ``write()`` for changes, ``read()`` for queries."""

    def __init__(self, url: str):
        self.url = store_url(url)
        self.shown_url = safe_url(url)  # as the user wrote it, without its password
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_postgres = self.url.startswith("postgresql")
        try:
            if self.is_sqlite:
                self._read_engine = _sqlite_engine(self.url, immediate=False)
                self._write_engine = _sqlite_engine(self.url, immediate=True)
            else:
                connect_args = {}
                if self.is_postgres and "connect_timeout" not in self.url:
                    connect_args["connect_timeout"] = _CONNECT_TIMEOUT_SECONDS
                self._read_engine = self._write_engine = create_engine(
                    self.url, pool_pre_ping=True, connect_args=connect_args
                )
        except Exception as exc:  # an unknown dialect or a missing driver
            raise ConfigError(
                f"Cannot open the metadata store {self.shown_url!r}: {exc}. Check "
                "KILN_STORE_URL (for PostgreSQL: pip install 'kiln[postgres]').",
                code="store.unavailable",
            ) from exc
        self._read = sessionmaker(self._read_engine, expire_on_commit=False)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back whole on any error."""
        with self._write() as session, session.begin():
            if self.is_postgres:
                session.execute(_TAKE_WRITE_LOCK, {"key": _WRITE_LOCK_KEY})
            yield session

    def check(self) -> None:
        """Connect once, or raise ``store.unavailable`` naming the URL (without its password)."""
        try:
            with self._read_engine.connect():
                pass
        except (OperationalError, InterfaceError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise ConfigError(
                f"Cannot reach the metadata store {self.shown_url!r}: {reason}. Check that "
                "the database server runs and accepts connections from this machine, and that "
                "KILN_STORE_URL (or store_url in kiln.toml) names it.",
                code="store.unavailable",
            ) from exc

    def revision(self) -> str | None:
        try:
            with self._read_engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None

    def upgrade(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is already there)."""
        self.check()
        if self.revision() == SCHEMA_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url)
        with self._write_engine.begin() as connection:
            if self.is_postgres:
                # Two processes opening a new workspace at once: one migrates, the other then
                # finds the schema at head (PostgreSQL's DDL is transactional).
                connection.execute(_TAKE_WRITE_LOCK, {"key": _WRITE_LOCK_KEY})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def referenced_digests(self) -> set[str]:
        """Every SHA-256 digest any record mentions, in any text or JSON column.

        Read widely on purpose: garbage collection deletes what is *not* in this set, so a
        digest mentioned anywhere (a job result, an AutoML leaderboard, a profile) is kept.
        Logs and metric series are not records of artifacts and are skipped.
        """
        found: set[str] = set()
        with self.read() as session:
            for table in Base.metadata.sorted_tables:
                if table.name in _NOT_REFERENCES:
                    continue
                columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
                if not columns:
                    continue
                for row in session.execute(select(*columns)).yield_per(1000):
                    for value in row:
                        if value is None:
                            continue
                        text_value = value if isinstance(value, str) else json.dumps(value)
                        found.update(_DIGEST.findall(text_value))
        return found

    def dispose(self) -> None:
        self._read_engine.dispose()
        if self._write_engine is not self._read_engine:
            self._write_engine.dispose()


def latest_versions(session: Session, row_class) -> list:
    """The newest row of each name in a table of versioned records (``name``, ``version``
    columns: data sets, problems, pipelines), ordered by name."""
    latest = (
        select(row_class.name, func.max(row_class.version).label("version"))
        .group_by(row_class.name)
        .subquery()
    )
    return list(
        session.scalars(
            select(row_class)
            .join(
                latest,
                (row_class.name == latest.c.name) & (row_class.version == latest.c.version),
            )
            .order_by(row_class.name)
        )
    )


def link(session: Session, source: tuple[str, str], target: tuple[str, str], relation: str) -> None:
    """Record a lineage edge: ``source`` (kind, id) was used to produce ``target``."""

    session.add(
        LineageRow(
            source_kind=source[0],
            source_id=source[1],
            target_kind=target[0],
            target_id=target[1],
            relation=relation,
            created_at=now(),
        )
    )


class Record:
    """Mixin for the frozen dataclasses services hand out: built from a table row, and turned
    into JSON-ready dicts (times as ISO 8601 UTC)."""

    @classmethod
    def _from_row(cls, row):
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    def _plain(self) -> dict:
        from dataclasses import asdict

        return {
            key: value.isoformat() + "Z" if isinstance(value, datetime) else value
            for key, value in asdict(self).items()
        }
