"""Parse the references users type: ``name``, ``name:3``, ``name@3`` or, for models, an alias
``name@production``."""

from __future__ import annotations

import re

from kiln.errors import ConfigError

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
# ASCII digits only (str.isdigit also takes '²', which int() refuses), and few enough of them to
# fit the database's 64-bit integer column.
VERSION_PATTERN = re.compile(r"^[0-9]{1,18}$")


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
    if not VERSION_PATTERN.match(version) or int(version) < 1:
        raise ConfigError(
            f"Invalid {what} reference {ref[:200]!r}: the version after {sep!r} must be a whole "
            f"number from 1 up (at most 18 digits), e.g. '{name[:100]}:1'.",
            code="name.invalid-ref",
        )
    return check_name(name, what=what), int(version)


def parse_model_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``"churn:3"`` → ``("churn", 3, None)``; ``"churn@production"`` → ``("churn", None,
    "production")``; ``"churn"`` → ``("churn", None, None)`` (the latest version)."""
    name, sep, after = _split(ref)
    if sep == "@" and after and not after.isdigit():
        return check_name(name, what="model"), None, check_alias(after)
    group, version = parse_ref(ref, what="model")
    return group, version, None


def check_alias(alias: str) -> str:
    """An alias is a name (``production``, ``champion``); digits alone would read as a version."""
    if not NAME_PATTERN.match(alias or ""):
        raise ConfigError(
            f"Invalid model alias {alias!r}: use letters, digits and underscores, starting with a "
            "letter or underscore, e.g. 'production' (a number after '@' means a version).",
            code="name.invalid-alias",
        )
    return alias


def _split(ref: str) -> tuple[str, str, str]:
    for sep in (":", "@"):
        if sep in ref:
            name, _, version = ref.partition(sep)
            return name, sep, version
    return ref, "", ""
