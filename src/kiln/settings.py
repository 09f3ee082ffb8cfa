"""Workspace settings: arguments, then environment, then ``kiln.toml``, then defaults."""

from __future__ import annotations

import contextlib
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
    "warm_workers": "KILN_WARM_WORKERS",
    "warm_worker_idle_seconds": "KILN_WARM_WORKER_IDLE_SECONDS",
    "online_store": "KILN_ONLINE_STORE",
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one workspace."""

    home: Path
    store_url: str
    artifacts_url: str
    executor: str = "local"
    ray_address: str | None = None
    require_approval: bool = True
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
    # An HTTP client may name a local file as an asynchronous invocation's input_location (the
    # server then reads any file its user can); off, so only data set versions and URLs are.
    async_local_inputs: bool = False
    # The server refuses requests without a valid API key ('kiln keys create'); /ping and the
    # OpenAPI pages stay open.
    require_auth: bool = False
    # Requests per second one client address may send (bursts of one second's worth); 0: no limit.
    client_rate_limit: float = 0.0
    # A job's process writes a heartbeat on its record this often. A job whose process is on
    # another host and has written none for job_lost_after_seconds is lost (Failed, job.lost);
    # on this host the process table says at once whether its process is gone.
    job_heartbeat_seconds: float = 5.0
    job_lost_after_seconds: float = 30.0
    # Jobs start as forks of a warm worker that has imported what they need (Linux; see
    # kiln.compute._zygote), which exits after this many seconds without a job.
    warm_workers: bool = True
    warm_worker_idle_seconds: float = 600.0
    # Studio: a browser session ends after this many seconds without a request, and an upload
    # (a CSV for Canvas or a data set) may be at most studio_max_upload_bytes.
    studio_session_idle_seconds: float = 8 * 3600.0
    studio_max_upload_bytes: int = 200 * 1024 * 1024
    # The secret of recipes' hash_pii step; never stored in a model or a record.
    pii_key: str | None = field(default=None, repr=False)
    # The feature store's online store: None for SQLite in the workspace (online.db), or a
    # redis:// URL (docs/features.md).
    online_store: str | None = None
    extra: dict = field(default_factory=dict)


# What each setting may be: how its value reads and, for numbers, the range allowed. Checked
# once, with one wording for every setting (the estimator contract's: name, rule, value).
@dataclass(frozen=True)
class _Rule:
    # text, flag, integer, seconds (a number above 0), rate (a number of at least 0) or names (a
    # list of strings)
    kind: str
    low: int | None = None
    high: int | None = None

    def words(self) -> str:
        if self.kind == "integer":
            if self.high is None:
                return f"an integer of at least {self.low}"
            return f"an integer in [{self.low}, {self.high}]"
        return {
            "text": "a string",
            "flag": "true or false",
            "seconds": "a number of seconds above 0",
            "rate": "a number of requests per second, 0 or more (0: no limit)",
            "names": 'a list of strings, e.g. ["example.com"]',
        }[self.kind]


_RULES: dict[str, _Rule] = {
    "store_url": _Rule("text"),
    "artifacts_url": _Rule("text"),
    "executor": _Rule("text"),
    "ray_address": _Rule("text"),
    "require_approval": _Rule("flag"),
    # Below 1 KiB no request fits; above 1 GiB a body, held in memory and parsed, would take
    # several times that (batches that large belong to 'kiln transform').
    "max_request_bytes": _Rule("integer", 1024, 1 << 30),
    "request_timeout_seconds": _Rule("seconds"),
    "max_concurrent_requests": _Rule("integer", 1),
    "allowed_hosts": _Rule("names"),
    "cors_origins": _Rule("names"),
    "form_bodies_as_json": _Rule("flag"),
    "async_local_inputs": _Rule("flag"),
    "require_auth": _Rule("flag"),
    "client_rate_limit": _Rule("rate"),
    "job_heartbeat_seconds": _Rule("seconds"),
    "job_lost_after_seconds": _Rule("seconds"),
    "warm_workers": _Rule("flag"),
    "warm_worker_idle_seconds": _Rule("seconds"),
    "studio_session_idle_seconds": _Rule("seconds"),
    "studio_max_upload_bytes": _Rule("integer", 1024, 1 << 40),
    "pii_key": _Rule("text"),
    "online_store": _Rule("text"),
}


_FLAG_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _checked(name: str, value, source: str):
    """``value`` of setting ``name`` as the Settings field holds it, or a ConfigError naming the
    setting, the rule, the value and where the value came from."""
    rule = _RULES[name]
    ok = False
    # bool is an int in Python: true is no count of bytes or seconds.
    if rule.kind == "text":
        ok = isinstance(value, str)
    elif rule.kind == "flag":
        if isinstance(value, str) and source.startswith("$"):
            # Environment variables are text: KILN_WARM_WORKERS=0.
            value = _FLAG_WORDS.get(value.strip().lower(), value)
        ok = isinstance(value, bool)
    elif rule.kind == "integer" and not isinstance(value, bool):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)  # "10485760" in kiln.toml was always read as the number
        ok = isinstance(value, int) and rule.low <= value <= (rule.high or value)
    elif rule.kind == "seconds" and not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError):
            value = float(value)  # environment variables are text
        ok = isinstance(value, float) and 0 < value < math.inf
    elif rule.kind == "rate" and not isinstance(value, bool):
        with contextlib.suppress(TypeError, ValueError):
            value = float(value)
        ok = isinstance(value, float) and 0 <= value < math.inf
    elif rule.kind == "names":
        value = [value] if isinstance(value, str) else value
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    if ok:
        return value
    shown = "true" if value is True else "false" if value is False else repr(value)
    raise ConfigError(
        f"The {name!r} setting must be {rule.words()}. Got {shown} (from {source}).",
        code="config.bad-value",
    )


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
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {', '.join(map(repr, unknown))} given as argument(s). "
            f"Valid settings: {', '.join(sorted(known))}.",
            code="config.unknown-setting",
        )
    values = {
        "store_url": f"sqlite:///{home / 'kiln.db'}",
        "artifacts_url": str(home / "artifacts"),
    }
    sources = dict.fromkeys(values, "the default")
    values.update(file_values)
    sources.update(dict.fromkeys(file_values, str(config)))
    for name, var in _ENV.items():
        if os.environ.get(var):
            values[name], sources[name] = os.environ[var], f"${var}"
    values.update(overrides)
    sources.update(dict.fromkeys(overrides, "an argument"))
    checked = {name: _checked(name, value, sources[name]) for name, value in values.items()}
    heartbeat = checked.get("job_heartbeat_seconds", Settings.job_heartbeat_seconds)
    lost_after = checked.get("job_lost_after_seconds", Settings.job_lost_after_seconds)
    if lost_after < 2 * heartbeat:
        raise ConfigError(
            f"The 'job_lost_after_seconds' setting must be at least twice "
            f"'job_heartbeat_seconds' ({heartbeat:g}), so one late heartbeat does not mark a "
            f"running job lost. Got {lost_after:g}.",
            code="config.bad-value",
        )
    return Settings(home=home, **checked)


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
