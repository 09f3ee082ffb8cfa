"""Studio API: labelling jobs for annotators — the open jobs, the next item for the signed-in
user, answering it, an image item's file — and for viewers a job's status and items.

An annotator reaches only these routes (``kiln.studio._auth.ANNOTATOR_PATHS``) and never sees
another annotator's answers or an item's label: the items table and the answers are viewer+."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from kiln.errors import NotFound, StateError
from kiln.studio._auth import Caller, audited, caller, require, workspace_of
from kiln.studio._http import json_response
from kiln.users import role_allows

router = APIRouter(tags=["labeling"])
Signed = Annotated[Caller, Depends(caller)]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
_URL = re.compile(r"^https?://", re.IGNORECASE)
# What an annotator is shown of a job and of its status: what they need to answer and the
# counts, never the settings (the last consolidation names each annotator with their accuracy)
# nor the annotators, agreement or consolidation of the status.
_ANNOTATOR_JOB_KEYS = (
    "name",
    "kind",
    "task",
    "labels",
    "instructions",
    "media",
    "content",
    "columns",
    "annotators_per_item",
    "dataset",
    "endpoint",
    "status",
    "created_at",
    "created_by",
)
_ANNOTATOR_STATUS_KEYS = (
    "job",
    "status",
    "items",
    "open",
    "answered",
    "labeled",
    "by_method",
    "automatic_share",
    "human_answers",
    "human_seconds",
)


def _for_annotator(described: dict) -> dict:
    return {k: described[k] for k in _ANNOTATOR_JOB_KEYS}


class Answer(BaseModel):
    answer: Any = None
    seconds: float | None = Field(None, ge=0, le=86_400)  # time spent on the item


@router.get("/labeling/", summary="Labelling jobs (an annotator sees the open ones)")
def list_jobs(
    who: Signed,
    request: Request,
    q: str | None = None,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
) -> dict:
    """Viewers see every job; an annotator only the jobs still taking answers (InProgress), so
    a finished job leaves their list. Each job comes with its progress for the list's bar."""
    ws = workspace_of(request)
    viewer = role_allows(who.user.role, "viewer")
    status = None if viewer else "InProgress"
    page = ws.labeling.page(limit=limit, offset=offset, sort=sort, q=q, status=status)
    shown = (lambda described: described) if viewer else _for_annotator
    return page.to_dict(lambda job: {**shown(job.to_dict()), "progress": _progress(ws, job.name)})


def _progress(ws, name: str) -> dict:
    status = ws.labeling.status(name)
    return {k: status[k] for k in ("items", "open", "answered", "labeled")}


@router.get("/labeling/{job}", summary="A job and its status: progress, cost, agreement")
def job_status(job: str, who: Signed, request: Request) -> dict:
    """The job and ``ws.labeling.status``. An annotator gets what they need to answer and the
    counts, never the annotators, their accuracy or the agreement; a viewer of a review job
    also what its endpoint sends (``review``: the endpoint's ``human_review`` setting, None
    when it sends nothing)."""
    ws = workspace_of(request)
    described = ws.labeling.get(job).to_dict()
    status = ws.labeling.status(job)
    if not role_allows(who.user.role, "viewer"):
        status = {k: status[k] for k in _ANNOTATOR_STATUS_KEYS}
        return {"job": _for_annotator(described), "status": status}
    answer = {"job": described, "status": status}
    if described["kind"] == "review" and described["endpoint"]:
        # What the endpoint sends now: its human_review section, None when review is off or
        # the endpoint was deleted (the job and its answers stay).
        try:
            setting = ws.endpoints.get(described["endpoint"]).config.get("human_review")
        except NotFound:
            setting = None
        answer["review"] = setting if setting and setting["job"] == job else None
    return answer


@router.get("/labeling/{job}/items", summary="A job's items with their labels (viewers)")
def job_items(
    job: str,
    who: Signed,
    request: Request,
    status: str | None = None,
    sort: str = "position",
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    require(ws, who, "viewer", "labeling.items", job)
    page = ws.labeling.items(job, status=status, sort=sort, limit=limit, offset=offset)
    return page.to_dict()


@router.post("/labeling/{job}/next", summary="The next item for the signed-in user")
def next_item(job: str, who: Signed, request: Request) -> Response:
    """The item the signed-in user answers next, with what the page needs to show it (the
    job's task, labels, instructions and media); 204 when nothing is left for them. Asking
    again before answering gives the same item."""
    ws = workspace_of(request)
    described = ws.labeling.get(job)
    item = ws.labeling.next_item(job, who.name)
    if item is None:
        return Response(status_code=204)
    shown = {
        "item": item.item,
        "position": item.position,
        "payload": item.payload,
        "prior": (item.prior or {}).get("value"),
    }
    if described.media == "image":
        source = str(item.payload.get(described.content) or "")
        own = f"/api/labeling/{quote(job, safe='')}/items/{quote(item.item, safe='')}/image"
        external = bool(_URL.match(source))
        shown["image"] = {"url": source if external else own, "external": external}
    keys = ("name", "kind", "task", "labels", "instructions", "media", "content", "columns")
    whole = described.to_dict()
    return json_response({"job": {k: whole[k] for k in keys}, "item": shown})


@router.post("/labeling/{job}/items/{item:path}/answer", summary="Answer an item given to you")
def answer(job: str, item: str, body: Answer, who: Signed, request: Request) -> dict:
    """Checked against the task and label set (422 outside it), once per item and annotator
    (409 the second time), audited as ``labeling.answer``."""
    ws = workspace_of(request)
    with audited(ws, who, "labeling.answer", f"{job}/{item}", role="annotator") as extra:
        task = ws.labeling.answer(job, item, who.name, body.answer, seconds=body.seconds)
        extra["seconds"] = body.seconds
    return {"item": task.item, "answered_at": task.answered_at, "answer": task.answer["value"]}


@router.get("/labeling/{job}/items/{item:path}/image", summary="The image file an item refers to")
def item_image(job: str, item: str, who: Signed, request: Request) -> FileResponse:
    """Only the file the job's item names in its content column, and only an image: never a
    path taken from the request. An http(s) image is the browser's to fetch (409 here). An
    annotator sees the images of the items given to them only (409 for the others), not the
    job's whole set by item number."""
    ws = workspace_of(request)
    described = ws.labeling.get(job)
    found = ws.labeling.item(job, item)
    if described.media != "image":
        raise NotFound(
            f"Labelling job {job!r} labels {described.media}s, not images.",
            code="labeling.no-image",
        )
    if not role_allows(who.user.role, "viewer") and not ws.labeling.was_given(job, item, who.name):
        raise StateError(
            f"{who.name} was not given item {item!r} of labelling job {job!r}: an annotator "
            "sees the images of their own items. Ask for the next item first.",
            code="labeling.not-assigned",
            field="item",
        )
    source = str(found.payload.get(described.content) or "")
    if _URL.match(source):
        raise StateError(
            f"Item {item!r} refers to {source}, which Studio does not fetch (it loads nothing "
            "from elsewhere); open the address in a new tab.",
            code="labeling.external-image",
        )
    path = Path(source)
    if path.suffix.lower() not in _IMAGE_SUFFIXES or not path.is_file():
        raise NotFound(
            f"The image of item {item!r} ({source!r}) is not a readable image file any more.",
            code="labeling.no-image",
        )
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"cache-control": "private"})
