"""An endpoint's variants: the checks on names and weights, and the edits deploys make.

A variant is a plain dict kept in ``EndpointRow.variants`` (and copied into each revision of the
history): ``name``, ``model`` (``GROUP:VERSION``), ``model_version_id``, ``approval_status``,
``role`` (``live`` or ``shadow``), ``weight`` (live: traffic is routed in proportion to the
weights) and ``sample`` (shadow: the share of live requests copied to it).
"""

from __future__ import annotations

import math

from kiln.errors import ConfigError, StateError
from kiln.refs import check_name

__all__ = [
    "LIVE",
    "SHADOW",
    "check_weight",
    "live_variants",
    "parse_weights",
    "shadow_variant",
    "traffic_shares",
    "variant_named",
]

LIVE = "live"
SHADOW = "shadow"


def live_variants(variants: list[dict]) -> list[dict]:
    return [v for v in variants if v.get("role", LIVE) == LIVE]


def shadow_variant(variants: list[dict]) -> dict | None:
    return next((v for v in variants if v.get("role") == SHADOW), None)


def variant_named(variants: list[dict], name: str, *, endpoint: str) -> dict:
    for variant in variants:
        if variant["name"] == name:
            return variant
    raise ConfigError(
        f"Endpoint {endpoint!r} has no variant named {name!r}. Its variants: "
        f"{', '.join(v['name'] for v in variants)} (see 'kiln endpoints show {endpoint}').",
        code="endpoints.unknown-variant",
    )


def check_weight(weight: float, *, variant: str) -> float:
    """A weight is a finite number from 0 up (0: loaded, but sent no traffic)."""
    try:
        value = float(weight)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"Weight {weight!r} for variant {variant!r} is not a number from 0 up. Weights are "
            "relative shares of traffic, e.g. --weights blue=0.9,green=0.1.",
            code="endpoints.bad-weight",
        )
    return value


def check_weights_total(variants: list[dict], *, endpoint: str) -> None:
    """At least one live variant, and not every live weight zero (no traffic could go anywhere)."""
    live = live_variants(variants)
    if not live:
        raise StateError(
            f"Endpoint {endpoint!r} would have no live variant. Keep at least one, or delete the "
            f"endpoint with 'kiln endpoints delete {endpoint}'.",
            code="endpoints.no-live-variant",
        )
    if sum(v["weight"] for v in live) <= 0:
        raise ConfigError(
            f"Every live variant of endpoint {endpoint!r} would have weight 0 "
            f"({', '.join(v['name'] + '=0' for v in live)}), so no request could be answered. "
            "Give at least one a weight above 0.",
            code="endpoints.zero-weights",
        )


def parse_weights(text: str) -> dict[str, float]:
    """``"blue=0.9,green=0.1"`` → ``{"blue": 0.9, "green": 0.1}``."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(
                f"Cannot read {part!r} in --weights {text!r}: write NAME=WEIGHT pairs separated "
                "by commas, e.g. blue=0.9,green=0.1.",
                code="endpoints.bad-weight",
            )
        name = check_name(name.strip(), what="variant")
        weights[name] = check_weight(value.strip(), variant=name)
    if not weights:
        raise ConfigError(
            f"--weights {text!r} names no variant: write e.g. blue=0.9,green=0.1.",
            code="endpoints.bad-weight",
        )
    return weights


def traffic_shares(variants: list[dict]) -> dict[str, float]:
    """Each live variant's share of traffic (weights normalised to sum to 1)."""
    live = live_variants(variants)
    total = sum(v["weight"] for v in live)
    return {v["name"]: (v["weight"] / total if total else 0.0) for v in live}
