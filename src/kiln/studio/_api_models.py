"""Studio API: model groups and versions, a version's card, approvals and lineage, and approving
or rejecting a version (approvers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from kiln.errors import ConfigError
from kiln.studio._auth import Caller, audited, caller, workspace_of

router = APIRouter(tags=["models"])
Signed = Annotated[Caller, Depends(caller)]


class Approval(BaseModel):
    reason: str = Field(default="", description="Why: recorded with the decision.")


class Rejection(BaseModel):
    reason: str = Field(default="", description="Why (required): recorded with the decision.")
    undeploy: bool = Field(
        default=False,
        description="Reject a version an endpoint serves, rolling the endpoint back to its "
        "previous Approved revision.",
    )


@router.get("/models", summary="Model groups: each with its latest version and version count")
def list_groups(
    who: Signed,
    request: Request,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    return ws.models.groups_page(q=q, sort=sort, limit=limit, offset=offset).to_dict()


@router.get("/models/versions", summary="Model versions across groups (summaries)")
def list_versions(
    who: Signed,
    request: Request,
    group: str | None = None,
    status: str | None = None,
    algorithm: str | None = None,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    """``sort``: ``created_at``, ``version``, ``group`` or a metric as ``SPLIT.METRIC``
    (``-test.roc_auc``); ``status``: an approval status."""
    ws = workspace_of(request)
    return ws.models.versions_page(
        group=group or None,
        status=status or None,
        algorithm=algorithm or None,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
    ).to_dict()


@router.get("/models/algorithms", summary="The algorithms the registry's versions use")
def list_algorithms(who: Signed, request: Request) -> dict:
    return {"algorithms": workspace_of(request).models.algorithms()}


@router.get("/models/{group}", summary="A model group: its latest version, count and aliases")
def get_group(group: str, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    return ws.models.group(group).to_dict() | {"aliases": ws.models.aliases(group)}


@router.get("/models/{group}/versions", summary="A group's versions (summaries)")
def list_group_versions(
    group: str,
    who: Signed,
    request: Request,
    status: str | None = None,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    return ws.models.versions_page(
        group=group, status=status or None, q=q, sort=sort, limit=limit, offset=offset
    ).to_dict()


@router.get("/models/{group}/{version}", summary="A model version: record, card and approvals")
def get_version(group: str, version: int, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    ref = f"{group}:{version}"
    record = ws.models.get(ref)
    return {
        "version": record.to_dict(),
        "card": ws.models.card(ref),
        "approvals": ws.models.approvals(ref),
        "aliases": [a for a, target in ws.models.aliases(group).items() if target == ref],
        "endpoints": ws.models.serving(ref),
        "require_approval": ws.settings.require_approval,
    }


@router.get("/models/{group}/{version}/lineage", summary="A model version's lineage graph")
def get_lineage(group: str, version: int, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    ws.models.get(f"{group}:{version}")  # an unknown version is a 404 naming the versions
    return ws.lineage.graph(f"model:{group}:{version}").to_dict()


@router.post("/models/{group}/{version}/approve", summary="Approve a version (approvers)")
def approve(group: str, version: int, body: Approval, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    ref = f"{group}:{version}"
    with audited(ws, who, "model.approve", ref, reason=body.reason, role="approver"):
        approved = ws.models.approve(ref, reason=body.reason)
    return approved.to_dict()


@router.post("/models/{group}/{version}/reject", summary="Reject a version (approvers)")
def reject(group: str, version: int, body: Rejection, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    ref = f"{group}:{version}"
    with audited(ws, who, "model.reject", ref, reason=body.reason, role="approver"):
        if not body.reason.strip():
            raise ConfigError(
                f"Say why {ref} is rejected: 'reason' is required, and the approval history "
                "keeps it.",
                code="studio.reason-required",
                field="reason",
            )
        rejected = ws.models.reject(ref, reason=body.reason, undeploy=body.undeploy)
    return rejected.to_dict()
