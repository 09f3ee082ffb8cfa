"""Studio API: experiments and their runs (server-paged, sorted by any metric or
hyperparameter)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from kiln.studio._auth import Caller, caller, workspace_of
from kiln.studio._http import json_response

router = APIRouter(tags=["experiments"])
Signed = Annotated[Caller, Depends(caller)]


@router.get("/experiments", summary="Experiments, with how many runs each has")
def list_experiments(
    who: Signed,
    request: Request,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Response:
    ws = workspace_of(request)
    page = ws.experiments.page(q=q, sort=sort, limit=limit, offset=offset)
    return json_response(page.to_dict(lambda item: item))


@router.get("/experiments/{name}", summary="An experiment's best run")
def get_experiment(name: str, who: Signed, request: Request) -> Response:
    ws = workspace_of(request)
    return json_response({"name": name, "best": ws.experiments.best(name)})


@router.get("/experiments/{name}/runs", summary="A page of an experiment's runs")
def list_runs(
    name: str,
    who: Signed,
    request: Request,
    sort: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Response:
    """``sort``: ``created_at``, ``status``, ``metric.NAME`` or ``param.NAME`` (``-`` first for
    descending); the answer's ``metrics`` and ``params`` name the columns the runs have."""
    ws = workspace_of(request)
    page = ws.experiments.runs_page(name, sort=sort, status=status, limit=limit, offset=offset)
    return json_response(page.to_dict(lambda item: item))
