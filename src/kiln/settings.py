"""Workspace settings: arguments, then environment, then ``kiln.toml``, then defaults."""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from kiln.errors import ConfigError

DEFAULT_HOME_NAME = ".kiln"
CONFIG_FILE = "kiln.toml"

_ENV = {
    "store_url": "KILN_STORE_URL",
    "artifacts_url": "KILN_ARTIFACTS_URL",
    "executor": "KILN_EXECUTOR",
    "ray_address": "KILN_RAY_ADDRESS",
    "pii_key": "KILN_PII_KEY",
    "job_heartbeat_seconds": "KILN_JOB_HEARTBEAT_SECONDS",
    "job_lost_after_seconds": "KILN_JOB_LOST_AFTER_SECONDS",
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one workspace."""

    home: Path
    store_url: str
    artifacts_url: str
    executor: str = "local"
    ray_address: str | None = None
    require_approval: bool = False
    max_request_bytes: int = 10 * 1024 * 1024
    # The server: a body must arrive within this many seconds (else 408).
    request_timeout_seconds: float = 30.0
    # Requests a server handles at once (reading, queued or scoring); past it, 503 at once.
    max_concurrent_requests: int = 256
    # Host header values answered besides loopback and the bind address ("*": any).
    allowed_hosts: tuple[str, ...] = ()
    # Web origins allowed to call the server from a browser (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
    # Read form-urlencoded bodies (curl -d's default) as JSON; off, so a web page's form post
    # cannot invoke a local endpoint.
    form_bodies_as_json: bool = False
    # A job's process writes a heartbeat on its record this often. A job whose process is on
    # another host and has written none for job_lost_after_seconds is lost (Failed, job.lost);
    # on this host the process table says at once whether its process is gone.
    job_heartbeat_seconds: float = 5.0
    job_lost_after_seconds: float = 30.0
    # The secret of recipes' hash_pii step; never stored in a model or a record.
    pii_key: str | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict)


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The workspace folder: the argument, else ``$KILN_HOME``, else ``./.kiln``."""
    if home is not None:
        return Path(home).expanduser().resolve()
    env = os.environ.get("KILN_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.cwd() / DEFAULT_HOME_NAME).resolve()


def load_settings(home: Path, **overrides) -> Settings:
    """Merge arguments, environment, ``kiln.toml`` and defaults for the workspace at ``home``."""
    file_values: dict = {}
    config = home / CONFIG_FILE
    if config.exists():
        try:
            file_values = tomllib.loads(config.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"The workspace settings file {config} is not valid TOML: {exc}. Fix or delete it.",
                code="config.bad-toml",
            ) from exc
        file_values = file_values.get("kiln", file_values)
    known = {f.name for f in fields(Settings)} - {"home", "extra"}
    unknown = sorted(set(file_values) - known)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(map(repr, unknown))} in {config}. "
            f"Valid settings: {', '.join(sorted(known))}.",
            code="config.unknown-setting",
        )
    values = {
        "store_url": f"sqlite:///{home / 'kiln.db'}",
        "artifacts_url": str(home / "artifacts"),
    }
    values.update(file_values)
    for name, var in _ENV.items():
        if os.environ.get(var):
            values[name] = os.environ[var]
    values.update({k: v for k, v in overrides.items() if v is not None})
    for name in ("require_approval", "form_bodies_as_json"):
        if not isinstance(values.get(name, False), bool):
            raise ConfigError(
                f"The {name!r} setting must be true or false. Got {values[name]!r}.",
                code="config.bad-value",
            )
    limit = values.get("max_concurrent_requests", Settings.max_concurrent_requests)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(
            f"The 'max_concurrent_requests' setting must be a whole number of at least 1. "
            f"Got {limit!r}.",
            code="config.bad-value",
        )
    try:
        max_bytes = int(values.get("max_request_bytes", Settings.max_request_bytes))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"The 'max_request_bytes' setting must be an integer. "
            f"Got {values['max_request_bytes']!r}.",
            code="config.bad-value",
        ) from exc
    values["max_request_bytes"] = max_bytes
    for name in ("allowed_hosts", "cors_origins"):
        value = values.get(name, ())
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"The {name!r} setting must be a list of strings, e.g. {name} = "
                f'["example.com"]. Got {value!r}.',
                code="config.bad-value",
            )
        values[name] = tuple(value)
    for name in ("job_heartbeat_seconds", "job_lost_after_seconds", "request_timeout_seconds"):
        values[name] = _positive_seconds(name, values.get(name, getattr(Settings, name)))
    heartbeat = values["job_heartbeat_seconds"]
    if values["job_lost_after_seconds"] < 2 * heartbeat:
        raise ConfigError(
            f"The 'job_lost_after_seconds' setting must be at least twice "
            f"'job_heartbeat_seconds' ({heartbeat:g}), so one late heartbeat does not mark a "
            f"running job lost. Got {values['job_lost_after_seconds']:g}.",
            code="config.bad-value",
        )
    return Settings(home=home, **values)


def _positive_seconds(name: str, value) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not (0 < seconds < math.inf) or isinstance(value, bool):
        raise ConfigError(
            f"The {name!r} setting must be a number of seconds above 0. Got {value!r}.",
            code="config.bad-value",
        )
    return seconds


# The key of the recipe's hash_pii step in this process. Opening a workspace sets it from that
# workspace's settings (None too: a process never hashes with another workspace's key).
_pii_key: str | None = None


def set_pii_key(key: str | None) -> None:
    """The key ``hash_pii`` uses in this process (set when a workspace is opened)."""
    global _pii_key
    _pii_key = key


def active_pii_key() -> str | None:
    """The key set for this process, else ``$KILN_PII_KEY``; None when neither is set."""
    return _pii_key or os.environ.get("KILN_PII_KEY") or None
