"""Parse the references users type: ``name``, ``name:3`` or ``name@3``."""

from __future__ import annotations

import re

from kiln.errors import ConfigError

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def check_name(name: str, *, what: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        suggestion = re.sub(r"[^A-Za-z0-9_]", "_", name or "x")
        if not re.match(r"[A-Za-z_]", suggestion):
            suggestion = f"_{suggestion}"
        raise ConfigError(
            f"Invalid {what} name {name!r}: use letters, digits and underscores, starting with a "
            f"letter or underscore (so the name works unquoted in SQL), e.g. {suggestion[:100]!r}.",
            code="name.invalid",
        )
    return name


def parse_ref(ref: str, *, what: str) -> tuple[str, int | None]:
    """``"churn:3"`` → ``("churn", 3)``; ``"churn"`` → ``("churn", None)`` (the latest)."""
    name, sep, version = _split(ref)
    if not sep:
        return check_name(name, what=what), None
    if not version.isdigit() or int(version) < 1:
        raise ConfigError(
            f"Invalid {what} reference {ref!r}: the version after {sep!r} must be a whole number "
            f"from 1 up, e.g. '{name}:1'.",
            code="name.invalid-ref",
        )
    return check_name(name, what=what), int(version)


def _split(ref: str) -> tuple[str, str, str]:
    for sep in (":", "@"):
        if sep in ref:
            name, _, version = ref.partition(sep)
            return name, sep, version
    return ref, "", ""
