"""Profiles stored with their data set version: JSON and HTML as artifacts, one row per target.

A data set version is immutable, so its profile for a given target and settings never changes:
profiling it again returns the stored profile. ``refresh=True`` recomputes and replaces it, and so
does a change of settings (sample size, seed, quick model on/off) or of the profile format.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from kiln.profile._profile import FORMAT, SAMPLE_ROWS, profile
from kiln.profile._series import timeseries_options
from kiln.reports import join_library, library_digest, split_library, write
from kiln.store import DatasetProfileRow, new_id, now, who

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.data import DatasetVersion

__all__ = ["DatasetProfile", "profile_version", "stored_profiles"]


@dataclass(frozen=True)
class DatasetProfile:
    """A stored profile: its facts (``profile --json``), the HTML report and where it came from."""

    id: str
    dataset: str  # the data set version's ref, ``churn:3``
    dataset_version_id: str
    target: str | None
    settings: dict
    facts: dict
    html_path: Path  # the verified artifact, never edit it: the page, loading plotly.js from
    library_path: Path | None  # this artifact (None: a page stored with plotly.js inlined)
    json_digest: str
    html_digest: str
    created_at: datetime
    created_by: str
    reused: bool

    def write_html(self, path: str | os.PathLike) -> Path:
        """A copy of the report at ``path`` (a folder gets ``profile_NAME_VERSION.html``)."""
        folder = str(path).endswith(("/", os.sep))
        path = Path(path)
        if path.is_dir() or folder:
            path = path / self.default_filename
        # the copy shares plotly.js with its folder's reports
        library = self.library_path.read_text("utf-8") if self.library_path else None
        return write(path, self.html_path.read_text(encoding="utf-8"), library=library)

    def page(self) -> str:
        """The report as one self-contained page (plotly.js inlined again), for a server to
        answer in a sandboxed frame, where the page could not fetch the file beside it."""
        page = self.html_path.read_text("utf-8")
        if self.library_path is None:
            return page
        return join_library(page, self.library_path.read_text("utf-8"))

    @property
    def default_filename(self) -> str:
        name = "profile_" + self.dataset.replace(":", "_")
        if self.target:  # a column name may hold any character, "/" included
            name += "_" + re.sub(r"[^\w.-]+", "_", self.target)
        return f"{name}.html"

    def to_dict(self) -> dict:
        return {
            "profile_id": self.id,
            "dataset": self.dataset,
            "target": self.target,
            "settings": self.settings,
            "created_at": self.created_at.isoformat() + "Z",
            "created_by": self.created_by,
            "reused": self.reused,
        }


def _record(ws: Context, row: DatasetProfileRow, version: DatasetVersion, reused: bool):
    what = f"profile of {version.ref}"
    facts = json.loads(ws.artifacts.local_path(row.json_digest, what=what).read_text("utf-8"))
    html_path = ws.artifacts.local_path(row.html_digest, what=f"report of the {what}")
    digest = library_digest(html_path.read_text("utf-8"))
    library_path = ws.artifacts.local_path(digest, what="plotly.js") if digest else None
    return DatasetProfile(
        id=row.id,
        dataset=version.ref,
        dataset_version_id=version.id,
        target=row.target or None,
        settings=row.settings,
        facts=facts,
        html_path=html_path,
        library_path=library_path,
        json_digest=row.json_digest,
        html_digest=row.html_digest,
        created_at=row.created_at,
        created_by=row.created_by,
        reused=reused,
    )


def _find(session, version_id: str, target: str | None) -> DatasetProfileRow | None:
    return session.scalars(
        select(DatasetProfileRow).where(
            DatasetProfileRow.dataset_version_id == version_id,
            DatasetProfileRow.target == (target or ""),
        )
    ).first()


def profile_version(
    ws: Context,
    ref: str | DatasetVersion,
    *,
    target: str | None = None,
    refresh: bool = False,
    sample_rows: int = SAMPLE_ROWS,
    seed: int = 42,
    model: bool = True,
    timeseries: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> DatasetProfile:
    """The stored profile of a data set version for ``target``, computed and stored if needed.
    ``timeseries`` profiles it as time series too (see :func:`kiln.profile.profile`)."""
    version = ws.data.get(ref) if isinstance(ref, str) else ref
    settings = {"format": FORMAT, "sample_rows": sample_rows, "seed": seed, "model": model}
    series = timeseries_options(timeseries, target)
    if series is not None:  # only then: profiles stored before it existed stay current
        settings["timeseries"] = series
    if not refresh:
        with ws.store.read() as session:
            row = _find(session, version.id, target)
            if row is not None and row.settings == settings:
                return _record(ws, row, version, reused=True)
    result = profile(
        ws.data.path(version),
        target=target,
        types=version.column_types(),
        title=version.ref,
        sample_rows=sample_rows,
        seed=seed,
        model=model,
        timeseries=series,
        progress=progress,
    )
    if progress:
        progress("writing the report")
    facts = result.to_dict() | {"dataset": version.ref, "dataset_version_id": version.id}
    json_digest = ws.artifacts.put_bytes(
        json.dumps(facts, allow_nan=False, ensure_ascii=False).encode("utf-8")
    )
    # The page and its plotly.js are stored apart: every profile's page refers to one stored
    # copy of the library (artifacts are named by their content).
    page, library = split_library(result.to_html())
    library_digest_ = None
    if library is not None:
        library_digest_ = ws.artifacts.put_bytes(library.encode("utf-8"))
    html_digest = ws.artifacts.put_bytes(page.encode("utf-8"))
    summary = {
        # Recorded so that 'kiln gc' sees the record refers to it (the page names it too).
        "library_digest": library_digest_,
        "warnings": len(facts["warnings"]),
        "rows": facts["rows"],
        "seconds": facts["seconds"],
        "quick_model": {
            k: facts["quick_model"].get(k) for k in ("status", "primary_metric", "metrics")
        },
    }
    if "timeseries" in facts:
        summary["timeseries"] = {
            k: facts["timeseries"][k] for k in ("frequency", "season_length", "series")
        }
    with ws.store.write() as session:
        row = _find(session, version.id, target)
        if row is None:
            row = DatasetProfileRow(
                id=new_id("prof"), dataset_version_id=version.id, target=target or ""
            )
            session.add(row)
        row.settings = settings
        row.json_digest, row.html_digest = json_digest, html_digest
        row.summary = summary
        row.created_at, row.created_by = now(), who()
        session.flush()
        return _record(ws, row, version, reused=False)


def stored_profile(ws: Context, ref: str | DatasetVersion, target: str | None = None):
    """The profile stored with a data set version for ``target`` (whatever its settings), or
    None when there is none; never computes one."""
    version = ws.data.get(ref) if isinstance(ref, str) else ref
    with ws.store.read() as session:
        row = _find(session, version.id, target)
        return None if row is None else _record(ws, row, version, reused=True)


def stored_profiles(ws: Context, ref: str | DatasetVersion) -> list[dict]:
    """``[{"target", "created_at", "warnings", ...}]`` for the profiles stored with a version."""
    version = ws.data.get(ref) if isinstance(ref, str) else ref
    with ws.store.read() as session:
        rows = session.scalars(
            select(DatasetProfileRow).where(DatasetProfileRow.dataset_version_id == version.id)
        ).all()
        return [
            {
                "profile_id": r.id,
                "target": r.target or None,
                "created_at": r.created_at.isoformat() + "Z",
                **r.summary,
            }
            for r in rows
        ]
