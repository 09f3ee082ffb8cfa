"""Studio API: Canvas, the no-code path from a CSV to predictions. Each step is the SDK call
the CLI makes: upload and ingest a file, check a target and read its profile's warnings, start
AutoML and watch it, deploy the model, predict one row with the endpoint's live model, and
batch-score a file into a download.

AutoML and batch transform run as jobs in their own processes; a request only starts one
(``kiln.automl.start_automl``, ``ws.transform(..., wait=False)``: the job is created and checked
in the request, then watched from a thread of the server) and answers at once with its id, so a
run of minutes never holds a request, and the page polls its progress."""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from kiln.automl import automl_progress, check_target, start_automl
from kiln.compute import COMPLETED
from kiln.errors import NotFound, RequestError, StateError
from kiln.serving import predict_records
from kiln.studio._auth import Caller, audited, caller, require, workspace_of
from kiln.studio._http import json_response
from kiln.workspace import Workspace

router = APIRouter(tags=["canvas"])
Signed = Annotated[Caller, Depends(caller)]

# The scored files of Canvas's batch transforms, one folder per upload, in the workspace.
SCORES_FOLDER = ("studio", "scores")
_LOG_LINES = 6


class AutoMLStart(BaseModel):
    data: str = Field(description="The data set version to learn from (name or name:3).")
    target: str = Field(description="The column to predict.")
    time_limit: float = Field(default=60, description="Seconds for the whole run (10 or more).")
    name: str | None = Field(default=None, description="Model group (default: the data set's).")


class Deploy(BaseModel):
    model: str = Field(description="The model version to deploy (GROUP:VERSION).")
    endpoint: str = Field(description="The endpoint's name (created when new).")
    allow_unapproved: bool = Field(
        default=False, description="Deploy a version not yet Approved (approvers only)."
    )
    reason: str = ""


class Predict(BaseModel):
    records: list[dict[str, Any]] = Field(
        max_length=1000,
        description="Rows to score: {column: value}; at most 1000 (score a file for more).",
    )


def _safe_filename(filename: str | None) -> str:
    """The upload's own base name (it tells the reader the format), kept to safe characters."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename or "").name).strip("._")[:100]
    if not name:
        return "upload.csv"
    return name if "." in name else f"{name}.csv"


def _too_large(limit: int) -> RequestError:
    error = RequestError(
        f"The file is larger than Studio's upload limit of {limit:,} bytes. Ingest it with "
        "'kiln data ingest FILE --name NAME' instead, or raise studio_max_upload_bytes in "
        "kiln.toml.",
        code="studio.upload-too-large",
    )
    error.http_status = 413
    return error


async def _receive_file(request: Request, folder: Path, filename: str | None) -> Path:
    """The request body, written to ``folder`` as it arrives under the upload's name; 413 as
    soon as it passes ``studio_max_upload_bytes`` (the rest is never read)."""
    limit = workspace_of(request).settings.studio_max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    path = folder / _safe_filename(filename)
    size = 0
    with path.open("wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            await anyio.to_thread.run_sync(handle.write, chunk)
    return path


@router.post("/uploads", summary="Upload a file (the raw body) and ingest it as a data set")
async def upload(name: str, who: Signed, request: Request, filename: str | None = None) -> Response:
    """The body is the file itself (CSV, Parquet or JSON lines, told by ``filename``'s
    extension; CSV by default), streamed to a temporary file and ingested with
    ``ws.data.ingest(path, name=name)``: 201 with the data set version, 413 past the upload
    limit, 422 for a file that is not a table (the reader's message)."""
    ws = workspace_of(request)
    require(ws, who, "scientist", "data.ingest", name)  # before a byte of the body is read
    with tempfile.TemporaryDirectory(prefix="kiln-upload-") as tmp:
        path = await _receive_file(request, Path(tmp), filename)
        version = await anyio.to_thread.run_sync(partial(_ingest, ws, who, path, name))
    return json_response(version.to_dict(), 201)


def _ingest(ws: Workspace, who: Caller, path: Path, name: str):
    with audited(ws, who, "data.ingest", name, detail={"file": path.name}) as extra:
        # The data set's source (and any error) names the file, not its temporary copy; its
        # maker is the Studio user (created_by).
        version = ws.data.ingest(path, name=name, description=path.name)
        extra["version"] = version.ref
    return version


@router.get("/canvas/datasets", summary="Data sets to start from (the latest version of each)")
def datasets(
    who: Signed,
    request: Request,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    return ws.data.page(q=q, sort=sort, limit=limit, offset=offset).to_dict()


@router.get(
    "/canvas/datasets/{ref}/columns",
    summary="A data set's columns and types; with target=, the target's check and warnings",
)
def columns(ref: str, who: Signed, request: Request, target: str | None = None) -> dict:
    """``target`` is checked as AutoML checks it (one value, no values, unknown column: 4xx),
    and the profile's warnings (computed once per version and target, without its quick
    model, then stored) come with the target's class counts."""
    ws = workspace_of(request)
    version = ws.data.get(ref)
    answer: dict[str, Any] = {"dataset": version.to_dict(), "columns": version.schema["columns"]}
    if target is not None:
        problem_type = check_target(ws, version, target)
        facts = ws.profile(version, target=target, model=False).facts
        answer |= {
            "target": target,
            "problem_type": problem_type,
            "target_summary": facts.get("target"),
            "warnings": facts.get("warnings", []),
        }
    return answer


@router.post("/canvas/automl", summary="Start AutoML in the background", status_code=202)
def automl_start(body: AutoMLStart, who: Signed, request: Request) -> Response:
    ws = workspace_of(request)
    detail = {"target": body.target, "time_limit": body.time_limit}
    with audited(ws, who, "automl.start", body.data, detail=detail) as extra:
        job = start_automl(
            ws, body.data, target=body.target, time_limit=body.time_limit, name=body.name
        )
        extra["job"] = job.id
    return json_response({"job": job.id, "status": job.status}, 202)


@router.get("/canvas/automl/{job_id}", summary="An AutoML run's progress, then its result")
def automl_status(job_id: str, who: Signed, request: Request) -> dict:
    return automl_progress(workspace_of(request), job_id)


@router.post("/canvas/deploy", summary="Deploy a model version to an endpoint")
def deploy(body: Deploy, who: Signed, request: Request) -> dict:
    """Scientists deploy when the workspace does not require approval; when it does (the
    default), approvers deploy, and only they may deploy a version not yet Approved."""
    ws = workspace_of(request)
    role = "approver" if ws.settings.require_approval or body.allow_unapproved else "scientist"
    detail = {"model": body.model, "allow_unapproved": body.allow_unapproved}
    with audited(
        ws, who, "endpoint.deploy", body.endpoint, reason=body.reason, role=role, detail=detail
    ):
        endpoint = ws.endpoints.deploy(
            body.model, endpoint=body.endpoint, allow_unapproved=body.allow_unapproved
        )
    return endpoint.to_dict()


@router.get("/canvas/endpoints/{name}/form", summary="What a prediction form for an endpoint asks")
def predict_form(name: str, who: Signed, request: Request) -> dict:
    """The live model's input columns with their types (and categories), from its signature."""
    ws = workspace_of(request)
    version = ws.models.get(ws.endpoints.get(name).model)
    return {
        "endpoint": name,
        "model": version.ref,
        "problem_type": version.problem_type,
        "target": version.target,
        "inputs": version.signature["inputs"],
    }


@router.post("/canvas/endpoints/{name}/predict", summary="Predict rows with the live model")
def predict(name: str, body: Predict, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    require(ws, who, "scientist", "endpoint.predict", name)
    return predict_records(ws, name, body.records)


@router.post("/canvas/scores", summary="Upload a file and batch-score it with a model (a job)")
async def score_file(
    model: str, who: Signed, request: Request, filename: str | None = None
) -> Response:
    """The body is the file to score (as for ``/uploads``); a transform job writes the scored
    CSV (the input's columns, then the predictions). 202 with the job's id: its progress is at
    ``/canvas/scores/{id}/progress``, the file at ``/canvas/scores/{id}`` once Completed."""
    ws = workspace_of(request)
    require(ws, who, "scientist", "transform.start", model)
    folder = ws.home.joinpath(*SCORES_FOLDER, uuid.uuid4().hex)
    folder.mkdir(parents=True)
    try:
        source = await _receive_file(request, folder, filename)
        job = await anyio.to_thread.run_sync(partial(_start_scoring, ws, who, model, source))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return json_response({"job": job.id, "status": job.status}, 202)


def _start_scoring(ws: Workspace, who: Caller, model: str, source: Path):
    with audited(ws, who, "transform.start", model, detail={"file": source.name}) as extra:
        job = ws.transform(model, input=source, output=source.with_name("scored.csv"), wait=False)
        extra["job"] = job.id
    return job


def _scoring_job(ws: Workspace, job_id: str):
    """A batch transform Canvas started (its output in the scores folder), else 404."""
    job = ws.jobs.get(job_id)
    scores = ws.home.joinpath(*SCORES_FOLDER).resolve()
    output = Path(job.spec.get("output", "")).resolve() if job.kind == "transform" else None
    if output is None or scores not in output.parents:
        raise NotFound(
            f"Job {job.id} is not a batch scoring started from Canvas; see 'kiln jobs show "
            f"{job.id}'.",
            code="studio.not-canvas-scores",
        )
    return job, output


@router.get("/canvas/scores/{job_id}/progress", summary="A batch scoring job's progress")
def score_progress(job_id: str, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    job, _output = _scoring_job(ws, job_id)
    log = [message for _seq, _at, _level, message in ws.jobs.logs(job.id)]
    return {
        "job": job.id,
        "status": job.status,
        "model": job.spec["model"],
        "failure_reason": job.failure_reason,
        "rows": job.result.get("rows"),
        "log": log[-_LOG_LINES:],
    }


@router.get("/canvas/scores/{job_id}", summary="Download a batch scoring job's scored file")
def score_download(job_id: str, who: Signed, request: Request) -> FileResponse:
    ws = workspace_of(request)
    job, output = _scoring_job(ws, job_id)
    if job.status != COMPLETED:
        raise StateError(
            f"Job {job.id} is {job.status}: its scored file is there once it completes"
            + (f" ({job.failure_reason})" if job.failure_reason else "")
            + ".",
            code="studio.scores-not-ready",
        )
    return FileResponse(
        output,
        media_type="text/csv",
        filename=f"scored-{job.spec['model'].replace(':', '-')}-{job.id}.csv",
    )
