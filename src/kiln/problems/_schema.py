"""The problem spec's schema: field names and types, checked by pydantic.

Kept apart from kiln.problems._spec so that pydantic loads only when a spec is parsed, not
whenever a workspace is opened.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kiln.errors import ConfigError
from kiln.problems._spec import BASELINES, bad_field
from kiln.problems._target import FORECASTING, PROBLEM_TYPES, UNSUPERVISED_PROBLEM_TYPES

__all__ = ["validate"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Predict(_Strict):
    predict: str


class _Cost(_Strict):
    matrix: dict[str, dict[str, float]]
    baseline: Literal[BASELINES] | _Predict = "majority"  # type: ignore[valid-type]
    max_per_1000: float | None = None
    beat_baseline_by: float | None = None


class _Latency(_Strict):
    p99_ms: float


class _Spec(_Strict):
    description: str = ""
    target: str | None = None
    problem_type: Literal[PROBLEM_TYPES + (FORECASTING,) + UNSUPERVISED_PROBLEM_TYPES] | None = None  # type: ignore[valid-type]
    criteria: list[str] = []
    cost: _Cost | None = None
    latency: _Latency | None = None
    data: list[str] = []
    owner: str | None = None
    auto_approve: bool = False


def _from_pydantic(exc: ValidationError, source: str) -> ConfigError:
    """The first error pydantic found, as a ConfigError naming the field path and value."""
    # An unknown key first: a misspelt key also reads as its real key missing.
    error = min(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    # A union (the baseline) reports each branch; the path stops before the branch's name.
    loc = [str(p) for p in error["loc"] if not str(p).startswith(("literal[", "_Predict"))]
    path = ".".join(loc) or "spec"
    given = error.get("input")
    if error["type"] == "extra_forbidden":
        parent = _Spec
        for part in loc[:-1]:
            field = parent.model_fields.get(part)
            annotation = getattr(field, "annotation", None)
            parent = next(
                (
                    a
                    for a in getattr(annotation, "__args__", (annotation,))
                    if isinstance(a, type) and issubclass(a, BaseModel)
                ),
                None,
            )
            if parent is None:
                break
        valid = list(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return bad_field(
            source,
            path,
            f"unknown key {loc[-1]!r}.{hint} Valid keys: {', '.join(valid)}.",
            code="problem.unknown-key",
        )
    if error["type"] == "missing":
        return bad_field(source, path, "this field is required.", code="problem.missing-field")
    # Booleans are YAML 1.2's (Yes and No are class labels): say how to write one.
    hint = " Write true or false." if error["type"].startswith("bool_") else ""
    return bad_field(source, path, f"{error['msg']}; got {given!r}.{hint}", code="problem.bad-type")


def validate(value: Any, source: str) -> dict:
    """``value`` checked against the schema: every key, defaults filled, as plain JSON data."""
    try:
        return _Spec.model_validate(value).model_dump(mode="json")
    except ValidationError as exc:
        raise _from_pydantic(exc, source) from None
