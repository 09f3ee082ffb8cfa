"""The feature store in the server: online reads and record-by-record ingestion over HTTP, and
the enrichment of an endpoint's requests from online feature groups (docs/features.md).

Both sit behind the same API-key check as invocations: the ``/features`` paths name no endpoint,
so they take a key for every endpoint (a key for one endpoint is refused, 403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from kiln.context import Context
from kiln.errors import NotFound, RequestError
from kiln.features import FeatureService

__all__ = ["FeatureEnricher", "features_router"]


def _record_body(body: bytes) -> dict:
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(
            f"The body is not valid JSON: {exc}.", code="request.malformed-json"
        ) from None
    if not isinstance(record, dict):
        raise RequestError(
            'The body must be one record, a JSON object of column values: {"customer_id": 7, '
            '"ts": "2026-01-31T12:00:00", ...}.',
            code="request.bad-body",
        )
    return record


def features_router(
    workspace: Context,
    errors: dict[int, dict],
    read_body: Callable[[Request], Awaitable[bytes]],
) -> APIRouter:
    """``GET /features/{group}/records/{id}`` and ``PUT``/``POST /features/{group}/records``
    (``read_body``: the app's body reader, within its size and time limits)."""
    service = FeatureService(workspace)
    router = APIRouter()

    # ``:path``: an id may hold '/' (sent as %2F, which the router sees decoded).
    @router.get(
        "/features/{group}/records/{record_id:path}",
        summary="Read a feature group's online record",
        responses={s: errors[s] for s in (404, 409, 422)},
    )
    async def read_record(group: str, record_id: str) -> Response:
        """The latest record of ``record_id`` (404 with a JSON body for an unknown group or id,
        or a record past its TTL)."""
        record = await anyio.to_thread.run_sync(service.get, group, record_id)
        return Response(orjson.dumps(record), media_type="application/json")

    async def write_record(group: str, request: Request) -> dict:
        record = _record_body(await read_body(request))
        ingest = await anyio.to_thread.run_sync(service.put_record, group, record)
        return {"group": group, "ingest": ingest.id, "write_time": ingest.to_dict()["write_time"]}

    for method in ("PUT", "POST"):
        router.add_api_route(
            "/features/{group}/records",
            write_record,
            methods=[method],
            summary="Write one record to a feature group",
            description="One record, a JSON object of every column of the group: appended to the "
            "offline store and, for an online group, kept online when its event time is the "
            "latest of its id.",
            responses={s: errors[s] for s in (400, 404, 408, 413, 422)},
            operation_id=f"write_feature_record_{method.lower()}",
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "minProperties": 1},
                            "example": {"customer_id": 7, "ts": "2026-01-31T12:00:00Z"},
                        }
                    },
                }
            },
        )
    return router


class FeatureEnricher:
    """Fills an endpoint's request rows from its online feature groups by record id.

    A feature the row already gives (not null) is kept: the request's own value wins. A row
    without an id, or whose id has no online record, is scored with its own values when it
    gives every feature the group would fill; otherwise the request is refused (422
    ``feature.missing-record-id``, or 404 ``feature.unknown-record`` naming the id)."""

    def __init__(self, workspace: Context):
        self.service = FeatureService(workspace)

    def enrich(self, section: dict, body: bytes, inputs: set[str]) -> bytes:
        """``body`` (JSON rows, or ``{"instances": [...]}``) with the features filled in. The
        record ids, and filled features, that are not among the model's ``inputs`` are then
        dropped: the model was trained on features, not on ids."""
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body  # the scorer answers with its own error
        rows: Any = parsed.get("instances") if isinstance(parsed, dict) else parsed
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return body
        for group in section["groups"]:
            self._fill(group, rows)
        added = {c for g in section["groups"] for c in (g["record_id"], *g["features"])}
        dropped = added - inputs
        if dropped:
            rows = [{k: v for k, v in row.items() if k not in dropped} for row in rows]
        if isinstance(parsed, dict) and "instances" in parsed:
            parsed["instances"] = rows
        else:
            parsed = rows
        return orjson.dumps(parsed)

    def _fill(self, group: dict, rows: list[dict]) -> None:
        name, key, features = group["group"], group["record_id"], group["features"]
        looked_up = []
        for index, row in enumerate(rows):
            if row.get(key) is not None:
                looked_up.append(row)
            elif any(row.get(f) is None for f in features):
                raise RequestError(
                    f"Row {index} has no {key!r}, the record id this endpoint fills features "
                    f"from feature group {name!r} by, and does not give them all itself. Send "
                    "the id.",
                    code="feature.missing-record-id",
                    field=key,
                )
        records = self.service.get_many(name, [r[key] for r in looked_up])
        for row, record in zip(looked_up, records, strict=True):
            if record is None:
                absent = [f for f in features if row.get(f) is None]
                if absent:
                    raise NotFound(
                        f"Feature group {name!r} has no online record with id {row[key]!r} (never "
                        "ingested, or past its TTL), and the row does not give "
                        f"{', '.join(absent)} itself. Send those values, or ingest the record.",
                        code="feature.unknown-record",
                        field=key,
                    )
                continue
            for feature in features:
                if row.get(feature) is None:
                    row[feature] = record.get(feature)
