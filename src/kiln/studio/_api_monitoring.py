"""Studio API: monitors (with their schedule and latest run), their runs a page at a time, a
run's violations, each drift statistic across runs, running a monitor now; alarms with their
state and events, and evaluating them now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from kiln.studio._api_jobs import REPORT_POLICY
from kiln.studio._auth import Caller, audited, caller, workspace_of

router = APIRouter(tags=["monitoring"])
Signed = Annotated[Caller, Depends(caller)]


class Reason(BaseModel):
    reason: str = ""


def _whole(items: list, sort: str) -> dict:
    """A short list (monitors and alarms are made by hand) in the paged lists' shape."""
    return {"items": items, "total": len(items), "offset": 0, "limit": len(items), "sort": sort}


@router.get("/monitors", summary="Monitors, each with its next scheduled run and latest run")
def list_monitors(who: Signed, request: Request) -> dict:
    return _whole(workspace_of(request).monitoring.summaries(), "name")


@router.get("/monitors/{name}", summary="One monitor")
def get_monitor(name: str, who: Signed, request: Request) -> dict:
    return workspace_of(request).monitoring.get(name).to_dict()


@router.get("/monitors/{name}/runs", summary="A monitor's runs, a page at a time")
def monitor_runs(
    name: str,
    who: Signed,
    request: Request,
    status: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    """``status``: Completed, NoData or Failed; sort by ``started_at`` (default newest first),
    ``status`` or ``id``."""
    ws = workspace_of(request)
    return ws.monitoring.runs_page(
        name, status=status, sort=sort, limit=limit, offset=offset
    ).to_dict(lambda item: item)


@router.get("/monitors/{name}/history", summary="Each drift statistic and metric across runs")
def monitor_history(name: str, who: Signed, request: Request, limit: int = 500) -> dict:
    return workspace_of(request).monitoring.drift_history(name, limit=limit)


@router.post("/monitors/{name}/run", summary="Run a monitor now (scientists)", status_code=202)
def run_monitor(name: str, body: Reason, who: Signed, request: Request) -> dict:
    """Starts the run as a job and answers at once with its id; the run is recorded when the
    job ends."""
    ws = workspace_of(request)
    with audited(ws, who, "monitor.run", name, reason=body.reason) as extra:
        job_id = ws.monitoring.start(name)
        extra["job_id"] = job_id
    return {"job_id": job_id, "monitor": name}


@router.get("/monitor-runs/{run_id}", summary="One run: metrics, violations, summary")
def get_run(run_id: str, who: Signed, request: Request) -> dict:
    return workspace_of(request).monitoring.get_run(run_id).to_dict()


@router.get("/monitor-runs/{run_id}/report", summary="A run's HTML report")
def run_report(run_id: str, who: Signed, request: Request) -> FileResponse:
    """Written on first request and kept; shown in a sandboxed frame under its own policy."""
    path = workspace_of(request).monitoring.report_path(run_id)
    return FileResponse(
        path,
        media_type="text/html",
        headers={"content-security-policy": REPORT_POLICY, "cache-control": "no-store"},
    )


@router.get("/monitor-runs/{run_id}/{library}", include_in_schema=False)
def run_report_library(run_id: str, library: str, request: Request) -> FileResponse:
    """The plotly.js a run's report loads from beside it; public code, served without signing
    in, like /static/plotly.js (a sandboxed frame may send no cookie)."""
    path = workspace_of(request).jobs.report_library(library)
    return FileResponse(path, media_type="text/javascript", headers={"cache-control": "no-store"})


@router.get("/alarms", summary="Alarms and their state")
def list_alarms(who: Signed, request: Request) -> dict:
    return _whole([a.to_dict() for a in workspace_of(request).monitoring.alarms.list()], "name")


@router.get("/alarms/{name}", summary="One alarm")
def get_alarm(name: str, who: Signed, request: Request) -> dict:
    return workspace_of(request).monitoring.alarms.get(name).to_dict()


@router.get("/alarms/{name}/events", summary="An alarm's state changes, newest first")
def alarm_events(
    name: str, who: Signed, request: Request, limit: int = 50, offset: int = 0
) -> dict:
    alarms = workspace_of(request).monitoring.alarms
    return alarms.history_page(name, limit=limit, offset=offset).to_dict(lambda item: item)


@router.post("/alarms/evaluate", summary="Evaluate every alarm now (scientists)")
def evaluate_alarms(body: Reason, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    with audited(ws, who, "alarms.evaluate", "alarms", reason=body.reason) as extra:
        changes = ws.monitoring.alarms.evaluate()
        extra["changes"] = len(changes)
    return {"changes": changes}
