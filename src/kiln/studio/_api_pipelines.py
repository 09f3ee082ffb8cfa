"""Studio API: pipelines and their executions a page at a time, an execution's DAG (steps,
edges, per-step status and cache hits), and re-running an execution."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from kiln.studio._auth import Caller, audited, caller, workspace_of

router = APIRouter(tags=["pipelines"])
Signed = Annotated[Caller, Depends(caller)]


class Rerun(BaseModel):
    reason: str = ""
    no_cache: bool = False


@router.get("/pipelines", summary="The latest version of each pipeline")
def list_pipelines(who: Signed, request: Request) -> dict:
    """Pipelines are registered by hand (a short list), answered in the paged lists' shape."""
    items = [p.to_dict() for p in workspace_of(request).pipelines.list()]
    return {"items": items, "total": len(items), "offset": 0, "limit": len(items), "sort": "name"}


@router.get("/pipelines/{ref}", summary="A pipeline: its latest version, or NAME:VERSION")
def get_pipeline(ref: str, who: Signed, request: Request) -> dict:
    return workspace_of(request).pipelines.get(ref).to_dict()


@router.get("/pipeline-executions", summary="Executions, a page at a time (newest first)")
def list_executions(
    who: Signed,
    request: Request,
    pipeline: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    """``pipeline``: of that pipeline only; ``status`` and ``sort`` as for jobs."""
    ws = workspace_of(request)
    return ws.pipelines.executions_page(
        pipeline, status=status, sort=sort, limit=limit, offset=offset
    ).to_dict()


@router.get("/pipeline-executions/{execution_id}", summary="An execution and its DAG")
def get_execution(execution_id: str, who: Signed, request: Request) -> dict:
    return workspace_of(request).pipelines.graph(execution_id)


@router.post(
    "/pipeline-executions/{execution_id}/rerun",
    summary="Run the same pipeline version and parameters again (scientists)",
    status_code=202,
)
def rerun_execution(execution_id: str, body: Rerun, who: Signed, request: Request) -> dict:
    """Starts the new execution and answers at once with its id."""
    ws = workspace_of(request)
    with audited(
        ws,
        who,
        "pipeline.rerun",
        execution_id,
        reason=body.reason,
        detail={"no_cache": body.no_cache},
    ) as extra:
        execution = ws.pipelines.rerun(execution_id, no_cache=body.no_cache)
        extra["execution"] = execution.id
    return {"execution": execution.id, "status": execution.status}
