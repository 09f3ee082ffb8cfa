"""Workspace settings: arguments, then environment, then ``kiln.toml``, then defaults."""

from __future__ import annotations

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
    # The secret of recipes' hash_pii step; never stored in a model or a record.
    pii_key: str | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict)


# What each setting may be: its type and, for numbers, the closed range allowed. Checked once,
# with one wording for every setting (the estimator contract's: name, rule, value).
_RULES: dict[str, tuple[type, tuple[int, int] | None]] = {
    "store_url": (str, None),
    "artifacts_url": (str, None),
    "executor": (str, None),
    "ray_address": (str, None),
    "require_approval": (bool, None),
    # Below 1 KiB no request fits; above 1 GiB a body, held in memory and parsed, would take
    # several times that (batches that large belong to 'kiln transform').
    "max_request_bytes": (int, (1024, 1 << 30)),
    "pii_key": (str, None),
}
_WORDS = {str: "a string", bool: "true or false", int: "an integer"}


def _checked(name: str, value, source: str):
    """``value`` of setting ``name`` as the Settings field holds it, or a ConfigError naming the
    setting, the rule, the value and where the value came from."""
    kind, bounds = _RULES[name]
    if kind is int and isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # "10485760" in kiln.toml was always read as the number
    # bool is an int in Python; true is no byte count.
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if ok and bounds is not None:
        ok = bounds[0] <= value <= bounds[1]
    if ok:
        return value
    rule = _WORDS[kind] + (f" in [{bounds[0]}, {bounds[1]}]" if bounds else "")
    shown = "true" if value is True else "false" if value is False else repr(value)
    raise ConfigError(
        f"The {name!r} setting (from {source}) must be {rule}. Got {shown}.",
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
