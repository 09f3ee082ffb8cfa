"""Studio API: data sets and their versions (facts, schema, first rows, profile, lineage), the
SQL query box, and the search over every kind of record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from kiln.data import json_rows
from kiln.errors import NotFound
from kiln.profile import stored_profile, stored_profiles
from kiln.studio._auth import Caller, caller, workspace_of
from kiln.studio._http import json_response

router = APIRouter(tags=["data"])
Signed = Annotated[Caller, Depends(caller)]

# A stored profile is a self-contained page with inline scripts (plotly.js and its figures): it
# gets its own policy, which lets those run but reach nothing (no fetch, no form, no frame), and
# the `sandbox` directive, so it runs in an opaque origin even when opened outside its frame.
PROFILE_POLICY = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; frame-ancestors 'self'"
)


class Query(BaseModel):
    sql: str = Field(description="The query; each data set is a table (churn, churn@2).")
    limit: int = Field(default=50, description="Rows per page (1–500).")
    offset: int = Field(default=0, description="Rows to skip.")


@router.get("/data", summary="Data sets, the latest version of each")
def list_datasets(
    who: Signed,
    request: Request,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    return ws.data.page(q=q, sort=sort, limit=limit, offset=offset).to_dict()


@router.post("/data/query", summary="Run a SQL query over the lake: one page of its rows")
def query(body: Query, who: Signed, request: Request) -> Response:
    """Sandboxed: the query reads only the data sets it names. A failing query answers 400
    ``data.bad-query`` with the database's message."""
    ws = workspace_of(request)
    page = ws.data.query_page(body.sql, limit=body.limit, offset=body.offset)
    return json_response(page.to_dict(lambda row: row))


@router.get("/data/{name}/versions", summary="The versions of a data set, newest first")
def list_versions(
    name: str,
    who: Signed,
    request: Request,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    return ws.data.versions(name, sort=sort, limit=limit, offset=offset).to_dict()


@router.get("/data/{name}/{version}", summary="A data set version: facts, schema, profiles")
def get_version(name: str, version: int, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    found = ws.data.get(f"{name}:{version}")
    return found.to_dict() | {"profiles": stored_profiles(ws, found)}


@router.get("/data/{name}/{version}/head", summary="The first rows of a data set version")
def head(name: str, version: int, who: Signed, request: Request, n: int = 20) -> Response:
    ws = workspace_of(request)
    frame = ws.data.head(f"{name}:{version}", n=min(max(n, 1), 200))
    return json_response({"columns": [str(c) for c in frame.columns], "rows": json_rows(frame)})


@router.get("/data/{name}/{version}/lineage", summary="What the version came from and fed")
def lineage(name: str, version: int, who: Signed, request: Request, depth: int = 2) -> dict:
    ws = workspace_of(request)
    ws.data.get(f"{name}:{version}")  # 404 data.unknown-*, before the graph's own wording
    return ws.lineage.graph(f"data:{name}:{version}", depth=depth).to_dict()


@router.get(
    "/data/{name}/{version}/profile",
    summary="The stored profile report (HTML, for a sandboxed frame)",
    response_class=Response,
)
def profile_report(
    name: str, version: int, who: Signed, request: Request, target: str | None = None
) -> Response:
    ws = workspace_of(request)
    found = stored_profile(ws, f"{name}:{version}", target)
    if found is None:
        raise NotFound(
            f"Data set {name}:{version} has no stored profile"
            f"{f' for target {target!r}' if target else ''}. Make one with "
            f"'kiln data profile {name}:{version}'.",
            code="data.no-profile",
        )
    return Response(
        found.page(),
        media_type="text/html",
        headers={
            "content-security-policy": PROFILE_POLICY,
            "cache-control": "private, max-age=300",
        },
    )


@router.get("/search", summary="Data sets, jobs, models, endpoints, ... by name, id or reference")
def search(who: Signed, request: Request, q: str = "", limit: int = 10) -> dict:
    """Grouped by kind, each hit with its Studio page (``href``). An empty ``q`` answers 400
    ``search.empty-query``."""
    ws = workspace_of(request)
    return {"q": q, "results": ws.lineage.search(q, limit=limit)}
