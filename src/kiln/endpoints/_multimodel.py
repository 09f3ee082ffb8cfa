"""Multi-model endpoints: one endpoint that serves many registered model versions, each request
naming the one it wants; the server loads them lazily and evicts the least recently used under a
memory budget (see :mod:`kiln.serving._multimodel` and docs/multi-model.md).

Such an endpoint has no variants: its ``config["multi_model"]`` section says what it may serve,
``{"memory_budget": BYTES, "groups": [GROUP, ...] or None (all), "allow_unapproved": bool}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ByteSize, TypeAdapter, ValidationError
from sqlalchemy import select

from kiln.errors import ConfigError, StateError
from kiln.refs import check_name
from kiln.registry import pickled_size, record_revision, write_revision
from kiln.store import EndpointRow, new_id, now, who

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.endpoints._endpoints import Endpoint
    from kiln.registry import ModelVersion

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "MEMORY_FACTOR",
    "MULTI_MODEL",
    "deploy_multi_model",
    "estimated_memory",
    "parse_memory_budget",
    "refuse_multi_model",
]

MULTI_MODEL = "multi_model"
DEFAULT_MEMORY_BUDGET = 2 * 1024**3  # 2 GiB
# A loaded model takes about this many times its pickle in memory (the unpickled arrays and
# trees, the request schema, the compiled recipe): measured with benchmarks/multimodel.py as the
# server's RSS growth per loaded model over the pickle's size, 1.1-1.2 for a random forest and
# for LightGBM (docs/benchmarks.md), with a margin.
MEMORY_FACTOR = 1.5
_BYTES = TypeAdapter(ByteSize)


def parse_memory_budget(value: int | str) -> int:
    """``2GB`` (10^9), ``2GiB`` (2^30), ``512MB`` or a number of bytes, as bytes (above 0)."""
    try:
        budget = int(_BYTES.validate_python(value))
    except ValidationError:
        budget = 0
    if budget <= 0:
        raise ConfigError(
            f"Memory budget {value!r} is not a size: write e.g. 2GB, 512MB, 1.5GiB or a number of "
            "bytes (above 0).",
            code="multimodel.bad-budget",
        )
    return budget


def _groups(ws: Context, groups: list[str] | str | None) -> list[str] | None:
    """The model groups named (each must exist), or None: every group."""
    if groups is None:
        return None
    names = [g.strip() for g in groups.split(",")] if isinstance(groups, str) else list(groups)
    names = sorted({check_name(g, what="model") for g in names if g})
    if not names:
        raise ConfigError(
            f"--groups {groups!r} names no model group: write e.g. churn,housing, or leave it out "
            "to serve every group.",
            code="multimodel.bad-groups",
        )
    for name in names:
        ws.models.get(name)  # an unknown group is a typo: registry.unknown-model names it
    return names


def deploy_multi_model(
    ws: Context,
    model: str | None,
    *,
    endpoint: str,
    memory_budget: int | str | None,
    groups: list[str] | str | None,
    allow_unapproved: bool,
) -> Endpoint:
    """Create the multi-model endpoint ``endpoint``, or change the settings of one: what is not
    given keeps its value (a new endpoint: a 2 GiB budget, every group, Approved models only).

    ``model``, when given, is checked as deploy checks a model (it exists, may be served, its
    file is intact) and must be in ``groups``: a first model the endpoint is known to serve.
    """
    from kiln.endpoints._endpoints import Endpoint

    check_name(endpoint, what="endpoint")
    given: dict = {}
    if memory_budget is not None:
        given["memory_budget"] = parse_memory_budget(memory_budget)
    if groups is not None:
        given["groups"] = _groups(ws, groups)
    if allow_unapproved:
        given["allow_unapproved"] = True
    if model is not None:
        version = ws.models.get(model)
        ws.models.check_deployable(version, allow_unapproved=allow_unapproved)
        ws.models.load(version)  # refuses a missing or tampered artifact up front
    with ws.store.write() as session:
        row = session.scalars(select(EndpointRow).where(EndpointRow.name == endpoint)).first()
        if row is not None and MULTI_MODEL not in (row.config or {}):
            served = ", ".join(v["model"] for v in row.variants)
            raise StateError(
                f"Endpoint {endpoint!r} already serves {served} as a real-time endpoint, so it "
                "cannot become a multi-model one. Choose another name, or delete it first "
                f"('kiln endpoints delete {endpoint}').",
                code="multimodel.endpoint-has-variants",
            )
        current = (row.config or {}).get(MULTI_MODEL, {}) if row is not None else {}
        section = {
            "memory_budget": DEFAULT_MEMORY_BUDGET,
            "groups": None,
            "allow_unapproved": False,
        }
        section |= current | given
        if model is not None and section["groups"] and version.group not in section["groups"]:
            raise ConfigError(
                f"Model {version.ref} is not in the groups endpoint {endpoint!r} serves "
                f"({', '.join(section['groups'])}). Add its group to --groups.",
                code="multimodel.group-not-served",
            )
        note = f"multi-model: budget {section['memory_budget']} bytes, groups " + (
            ", ".join(section["groups"]) if section["groups"] else "all"
        )
        if row is None:
            stamp = now()
            row = EndpointRow(
                id=new_id("ep"),
                name=endpoint,
                variants=[],
                revision=1,
                created_at=stamp,
                updated_at=stamp,
                created_by=who(),
                capture={},
                config={MULTI_MODEL: section},
            )
            session.add(row)
            session.flush()
            record_revision(session, row, note=note)
        else:
            row.config = {**row.config, MULTI_MODEL: section}
            write_revision(session, row, [], note=note)
        return Endpoint._from_row(row)


def refuse_multi_model(config: dict | None, endpoint: str, doing: str) -> None:
    """Variants, traffic shifts and shadows mean nothing on a multi-model endpoint."""
    if MULTI_MODEL in (config or {}):
        raise StateError(
            f"Endpoint {endpoint!r} is a multi-model endpoint: it has no variants, so it cannot "
            f"{doing}. Each request names its model (header x-kiln-target-model: GROUP:VERSION); "
            "deploy single models to another endpoint.",
            code="multimodel.not-supported",
        )


def estimated_memory(ws: Context, version: ModelVersion) -> int:
    """What ``version`` is reckoned to take once loaded: the size of its pickle times
    ``MEMORY_FACTOR``, known before unpickling (so a model over the budget is refused unbuilt)."""
    path = ws.artifacts.local_path(version.digest, what=f"model {version.ref}")
    return int(pickled_size(path) * MEMORY_FACTOR)
