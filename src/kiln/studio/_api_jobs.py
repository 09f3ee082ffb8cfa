"""Studio API: jobs — the paged list, one job with its children, its log (paged, and streamed as
Server-Sent Events while it runs), its metric curves, its HTML report, and cancelling it."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from kiln.compute import FINAL_STATUSES
from kiln.studio._auth import Caller, audited, caller, workspace_of
from kiln.workspace import Workspace

router = APIRouter(tags=["jobs"])
Signed = Annotated[Caller, Depends(caller)]

# How often a log stream reads the store for new lines, and how many it sends at most at once.
STREAM_POLL_SECONDS = 0.5
STREAM_BATCH = 1000
KEEPALIVE_SECONDS = 2.0
# A report is self-contained HTML with inline scripts and styles (plotly.js): its own policy
# allows them, and nothing else; Studio shows it in a sandboxed frame.
REPORT_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; frame-ancestors 'self'"
)


class Cancel(BaseModel):
    reason: str = ""


@router.get("/jobs", summary="Jobs, a page at a time (newest first)")
def list_jobs(
    who: Signed,
    request: Request,
    kind: str | None = None,
    status: str | None = None,
    experiment: str | None = None,
    parent_id: str | None = None,
    top_level: bool = False,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    """Filters: ``kind``, ``status`` (any case), ``experiment``, ``parent_id`` (a job's trials),
    ``top_level`` (only jobs no other job started), ``q`` (part of the id or kind). Sort by
    ``created_at``, ``status``, ``kind`` or ``id`` (``-`` for descending)."""
    ws = workspace_of(request)
    return ws.jobs.page(
        kind=kind,
        status=status,
        experiment=experiment,
        parent_id=parent_id,
        top_level=top_level,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
    ).to_dict()


@router.get("/jobs/kinds", summary="The job kinds the kind filter takes")
def job_kind_names(who: Signed, request: Request) -> dict:
    return {"kinds": workspace_of(request).jobs.kinds()}


@router.get("/jobs/{job_id}", summary="One job: status, times, spec, result, failure")
def get_job(job_id: str, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    job = ws.jobs.get(job_id)
    children = ws.jobs.child_counts([job.id]).get(job.id, 0)
    return job.to_dict() | {
        "children": children,
        "final": job.status in FINAL_STATUSES,
        "has_report": ws.jobs.has_report(job),
    }


@router.get("/jobs/{job_id}/logs", summary="A page of a job's log lines")
def job_logs(
    job_id: str,
    who: Signed,
    request: Request,
    after: int | None = None,
    before: int | None = None,
    tail: int | None = None,
    limit: int = 1000,
) -> dict:
    """``tail=N``: the last N lines; ``before=SEQ``: the ``limit`` lines before that one (load
    earlier); ``after=SEQ``: the ``limit`` lines after it. ``earlier`` says whether lines come
    before the first one answered."""
    ws = workspace_of(request)
    return ws.jobs.log_page(job_id, after=after, before=before, tail=tail, limit=limit).to_dict()


def _event(name: str, payload, seq: int | None = None) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {name}\ndata: ".encode() + orjson.dumps(payload) + b"\n\n"


async def _stream(ws: Workspace, job_id: str, after: int):
    """New log lines as ``line`` events while the job runs, a ``status`` event when its status
    changes, and ``end`` once it has ended and its last lines were sent. A comment every
    :data:`KEEPALIVE_SECONDS` without news keeps proxies from closing the stream, and finds a
    client that has gone (sending to it fails, which ends this generator)."""
    status = None
    quiet = 0.0
    while True:
        job = await run_in_threadpool(ws.jobs.get, job_id)
        page = await run_in_threadpool(
            partial(ws.jobs.log_page, job_id, after=after, limit=STREAM_BATCH)
        )
        news = False
        for line in page.to_dict()["lines"]:
            yield _event("line", line, line["seq"])
            after, news = line["seq"], True
        if job.status != status:
            status, news = job.status, True
            yield _event("status", {"status": status, "ended_at": job.to_dict()["ended_at"]})
        if len(page.lines) == STREAM_BATCH:
            continue  # more lines are waiting: send them before sleeping
        if job.status in FINAL_STATUSES:
            yield _event("end", {"status": job.status})
            return
        quiet = 0.0 if news else quiet + STREAM_POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(STREAM_POLL_SECONDS)


@router.get("/jobs/{job_id}/logs/stream", summary="A job's new log lines, as Server-Sent Events")
def stream_logs(job_id: str, who: Signed, request: Request, after: int = 0) -> StreamingResponse:
    """Events: ``line`` (``{seq, time, level, message}``, its ``id`` the sequence number),
    ``status`` (when the job's status changes) and ``end`` (the job ended; the stream closes).
    ``after``, or the ``Last-Event-ID`` a reconnecting EventSource sends: the last line seen."""
    ws = workspace_of(request)
    job_id = ws.jobs.get(job_id).id
    last = request.headers.get("last-event-id", "")
    start = int(last) if last.isdigit() else after
    return StreamingResponse(
        _stream(ws, job_id, start),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


@router.get("/jobs/{job_id}/metrics", summary="A job's metric curves, thinned for a chart")
def job_metrics(job_id: str, who: Signed, request: Request, max_points: int = 1000) -> dict:
    """``{name: {steps, values, points}}``: each series at most ``max_points`` points (evenly
    spaced, first and last kept); ``points`` is how many it has in all."""
    ws = workspace_of(request)
    return {"series": ws.jobs.metric_series(job_id, max_points=max_points)}


@router.get("/jobs/{job_id}/report", summary="A job's HTML report (training, tuning, AutoML)")
def job_report(job_id: str, who: Signed, request: Request) -> FileResponse:
    """Built on first request and kept; 404 for a kind without reports, 409 for a job that did
    not complete."""
    ws = workspace_of(request)
    path = ws.jobs.report_path(job_id)
    return FileResponse(
        path,
        media_type="text/html",
        headers={"content-security-policy": REPORT_POLICY, "cache-control": "no-store"},
    )


@router.get("/jobs/{job_id}/{library}", include_in_schema=False)
def job_report_library(job_id: str, library: str, request: Request) -> FileResponse:
    """The plotly.js a report loads from beside it (its relative URL lands here). Public code,
    like /static/plotly.js, so served without signing in: a sandboxed frame may send no cookie."""
    path = workspace_of(request).jobs.report_library(library)
    return FileResponse(path, media_type="text/javascript", headers={"cache-control": "no-store"})


@router.post("/jobs/{job_id}/cancel", summary="Stop a Pending or InProgress job (scientists)")
def cancel_job(job_id: str, body: Cancel, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    with audited(ws, who, "job.cancel", job_id, reason=body.reason):
        job = ws.jobs.cancel(job_id, reason=body.reason or f"Cancelled by {who.name} in Studio.")
    return job.to_dict()
