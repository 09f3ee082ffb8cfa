"""Studio API: endpoints (their variants, history, metrics, configuration and shadow report) and
the changes that move traffic: deploy with a strategy (a canary...), re-weight, promote, roll back.

Who may move traffic: a scientist where the workspace does not require approval
(``require_approval = false``), an approver where it does; deploying an unapproved model
(``allow_unapproved``) is an approver's call either way."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from kiln.compute import Job
from kiln.studio._auth import Caller, audited, caller, workspace_of
from kiln.workspace import Workspace

router = APIRouter(tags=["endpoints"])
Signed = Annotated[Caller, Depends(caller)]

# A report is a whole HTML page with inline scripts and styles: it may run them, in a frame with
# no origin (sandbox without allow-same-origin), and load or send nothing.
REPORT_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'self'; sandbox allow-scripts"
)


def deploy_role(ws: Workspace, *, allow_unapproved: bool = False) -> str:
    """The role that may move an endpoint's traffic in this workspace (see the module's doc)."""
    if allow_unapproved or ws.settings.require_approval:
        return "approver"
    return "scientist"


class Deploy(BaseModel):
    model: str = Field(description="The model version, GROUP:VERSION (or GROUP@ALIAS).")
    strategy: str | None = Field(
        default=None,
        description="all-at-once (default), canary:PERCENT%:BAKE, linear:PERCENT%:BAKE or "
        "blue-green[:BAKE]; a guarded deployment runs as a job and answers at once.",
    )
    variant: str | None = Field(default=None, description="Add or replace this live variant.")
    weight: float | None = Field(default=None, description="The variant's weight (from 0 up).")
    shadow: bool = Field(default=False, description="Deploy as the shadow variant.")
    sample: float = Field(default=1.0, description="A shadow's share of live requests, (0, 1].")
    alarms: list[str] | None = Field(default=None, description="Alarms a guarded deploy watches.")
    allow_unapproved: bool = Field(default=False, description="Deploy a pending version.")
    serverless: bool = False
    max_concurrency: int | None = None
    idle_timeout: str | None = None
    reason: str = ""


class Weights(BaseModel):
    weights: dict[str, float] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)
    reason: str = ""


class Promote(BaseModel):
    variant: str = Field(description="The shadow variant to make live.")
    weight: float = 1.0
    replace: bool = True
    strategy: str | None = None
    reason: str = ""


class Rollback(BaseModel):
    to: int | None = Field(default=None, description="The revision (default: the previous).")
    reason: str = ""


@router.get("/endpoints", summary="Endpoints: status, live models and revision")
def list_endpoints(
    who: Signed,
    request: Request,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    page = ws.endpoints.page(q=q, sort=sort, limit=limit, offset=offset)
    return page.to_dict() | {"require_approval": ws.settings.require_approval}


@router.get("/endpoints/{name}", summary="An endpoint: variants and configuration")
def get_endpoint(name: str, who: Signed, request: Request) -> dict:
    """Cheap (one row): what a page polls to follow a deployment's steps."""
    ws = workspace_of(request)
    endpoint = ws.endpoints.get(name)
    return {
        "endpoint": endpoint.to_dict(),
        "require_approval": ws.settings.require_approval,
        "deploy_role": deploy_role(ws),
    }


@router.get("/endpoints/{name}/health", summary="Whether the endpoint's models can be served")
def get_health(name: str, who: Signed, request: Request) -> dict:
    """Reads each model file and checks its digest: asked once per page, not polled."""
    return workspace_of(request).endpoints.health(name)


@router.get("/endpoints/{name}/history", summary="The endpoint's revisions, newest first")
def get_history(
    name: str,
    who: Signed,
    request: Request,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    page = ws.endpoints.history_page(name, sort=sort, limit=limit, offset=offset)
    return page.to_dict(lambda revision: revision)


@router.get("/endpoints/{name}/metrics", summary="Each variant's figures over time and in all")
def get_metrics(
    name: str, who: Signed, request: Request, seconds: float = 900.0, step: float = 30.0
) -> dict:
    ws = workspace_of(request)
    series = ws.endpoints.metric_series(name, seconds=seconds, step=step)
    return series | {"totals": ws.endpoints.metrics(name, seconds=seconds)}


@router.get("/endpoints/{name}/compare", summary="Variants side by side, with model quality")
def get_comparison(name: str, who: Signed, request: Request, seconds: float | None = None) -> dict:
    """Serving figures and, on captured rows with ground truth, each variant's accuracy (or
    error) and its difference from the main variant with a 95 % interval. Reads the capture:
    asked on demand, not polled."""
    return workspace_of(request).endpoints.compare(name, seconds=seconds)


@router.get("/endpoints/{name}/scaling", summary="Scaling events and the async backlog")
def get_scaling(name: str, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    events = ws.endpoints.scaling_events(name, limit=100)
    return {
        "events": [event.to_dict() for event in events],
        "async_backlog": ws.endpoints.async_queue.backlog([name]).get(name),
        "async_recent": [i.to_dict() for i in ws.endpoints.async_list(name, limit=20)],
    }


@router.get("/endpoints/{name}/shadow-report", summary="The shadow test's HTML report")
def get_shadow_report(
    name: str, who: Signed, request: Request, seconds: float | None = None
) -> Response:
    html = workspace_of(request).endpoints.shadow_report_html(name, seconds=seconds)
    return Response(
        html, media_type="text/html", headers={"content-security-policy": REPORT_POLICY}
    )


@router.post("/endpoints/{name}/deploy", summary="Deploy a model version, by a strategy")
def deploy(name: str, body: Deploy, who: Signed, request: Request) -> dict:
    """A guarded strategy (canary, linear, blue-green) answers ``{"job": ...}`` as the job
    starts; anything else ``{"endpoint": ...}`` once it serves."""
    ws = workspace_of(request)
    role = deploy_role(ws, allow_unapproved=body.allow_unapproved)
    detail = {"model": body.model, "strategy": body.strategy or "all-at-once"}
    with audited(
        ws, who, "endpoint.deploy", name, reason=body.reason, role=role, detail=detail
    ) as extra:
        made = ws.endpoints.deploy(
            body.model,
            endpoint=name,
            strategy=body.strategy,
            variant=body.variant or None,
            weight=body.weight,
            shadow=body.shadow,
            sample=body.sample,
            alarms=body.alarms,
            allow_unapproved=body.allow_unapproved,
            serverless=body.serverless,
            max_concurrency=body.max_concurrency,
            idle_timeout=body.idle_timeout,
            wait=False,
        )
        if isinstance(made, Job):
            extra["job"] = made.id
    if isinstance(made, Job):
        return {"job": made.to_dict()}
    return {"endpoint": made.to_dict()}


@router.post("/endpoints/{name}/weights", summary="Re-weight or remove variants")
def change_weights(name: str, body: Weights, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    detail = {"weights": body.weights, "remove": body.remove}
    with audited(
        ws, who, "endpoint.weights", name, reason=body.reason, role=deploy_role(ws), detail=detail
    ):
        endpoint = ws.endpoints.update(
            name, weights=body.weights or None, remove=body.remove or None, note=body.reason or None
        )
    return {"endpoint": endpoint.to_dict()}


@router.post("/endpoints/{name}/promote", summary="Make the shadow variant live")
def promote(name: str, body: Promote, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    detail = {"variant": body.variant, "strategy": body.strategy}
    with audited(
        ws, who, "endpoint.promote", name, reason=body.reason, role=deploy_role(ws), detail=detail
    ):
        made = ws.endpoints.promote(
            name,
            body.variant,
            weight=body.weight,
            replace=body.replace,
            strategy=body.strategy,
            wait=False,
        )
    if isinstance(made, Job):
        return {"job": made.to_dict()}
    return {"endpoint": made.to_dict()}


@router.post("/endpoints/{name}/rollback", summary="Serve an earlier revision's variants again")
def rollback(name: str, body: Rollback, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    with audited(
        ws,
        who,
        "endpoint.rollback",
        name,
        reason=body.reason,
        role=deploy_role(ws),
        detail={"to": body.to},
    ):
        endpoint = ws.endpoints.rollback(name, to=body.to)
    return {"endpoint": endpoint.to_dict()}
