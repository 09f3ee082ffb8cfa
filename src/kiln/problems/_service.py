"""``ctx.problems``: versioned problem specs in the metadata store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kiln.errors import ConfigError, NotFound
from kiln.problems._spec import (
    ProblemCriteria,
    cost_classes_error,
    load_spec,
    parse_spec,
    spec_digest,
)
from kiln.problems._target import order_classes
from kiln.refs import check_name, parse_ref
from kiln.store import ProblemRow, Record, latest_versions, new_id, now, who

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["Problem", "ProblemService"]


@dataclass(frozen=True)
class Problem(Record):
    """One version of a problem spec; ``spec`` is the normalised spec (docs/problems.md)."""

    id: str
    name: str
    version: int
    spec: dict
    digest: str
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def criteria(self) -> ProblemCriteria:
        return ProblemCriteria.of(self.spec)

    @property
    def target(self) -> str | None:
        return self.spec.get("target")

    @property
    def problem_type(self) -> str | None:
        return self.spec.get("problem_type")

    @property
    def auto_approve(self) -> bool:
        return bool(self.spec.get("auto_approve"))

    def to_dict(self) -> dict:
        return self._plain() | {"ref": self.ref}


class ProblemService:
    """``ctx.problems``: create problem specs (a changed spec is a new version), find them."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def create(self, name: str, spec: dict | str | os.PathLike) -> Problem:
        """Record ``spec`` (a dict, or the path of a YAML file) as problem ``name``.

        The same spec as the latest version returns that version; a changed one is the next
        version. Each data set the spec names that exists already is checked to hold the target
        (and the cost matrix's classes). A bad spec raises ConfigError (``problem.*``) and
        stores nothing.
        """
        check_name(name, what="problem")
        raw, source = load_spec(spec)
        normalised = parse_spec(raw, source)
        self._check_data(normalised, source)
        digest = spec_digest(normalised)
        with self._ws.store.write() as session:
            latest = session.scalars(
                select(ProblemRow)
                .where(ProblemRow.name == name)
                .order_by(ProblemRow.version.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.digest == digest:
                return Problem._from_row(latest)
            row = ProblemRow(
                id=new_id("prob"),
                name=name,
                version=(latest.version if latest else 0) + 1,
                spec=normalised,
                digest=digest,
                created_at=now(),
                created_by=who(),
            )
            session.add(row)
            session.flush()
            return Problem._from_row(row)

    def _check_data(self, spec: dict, source: str) -> None:
        """The target (and the cost matrix's classes) against each named data set that exists.

        One not ingested yet is accepted: a problem may be written before its data arrives; the
        training job checks it again against the data it trains on."""
        target = spec.get("target")
        for ref in spec["data"]:
            parse_ref(ref, what="data set")
            try:
                dataset = self._ws.data.get(ref)
            except NotFound:
                continue
            if target is None:
                continue
            check_target(self._ws, spec, dataset, where=source[0].lower() + source[1:])

    def get(self, ref: str) -> Problem:
        """``name`` (its latest version) or ``name:2``."""
        name, version = parse_ref(ref, what="problem")
        with self._ws.store.read() as session:
            query = select(ProblemRow).where(ProblemRow.name == name)
            if version is None:
                query = query.order_by(ProblemRow.version.desc()).limit(1)
            else:
                query = query.where(ProblemRow.version == version)
            row = session.scalars(query).first()
            if row is not None:
                return Problem._from_row(row)
            versions = session.scalars(
                select(ProblemRow.version).where(ProblemRow.name == name).order_by("version")
            ).all()
            names = session.scalars(select(ProblemRow.name).distinct().order_by("name")).all()
        if versions:
            raise NotFound(
                f"Problem {name!r} has no version {version}; its versions are "
                f"{', '.join(map(str, versions))}.",
                code="problem.not-found",
            )
        raise NotFound(
            f"No problem named {name!r}. Problems: {', '.join(names) or 'none yet'}. Create one "
            "with 'kiln problem create NAME --file problem.yaml'.",
            code="problem.not-found",
        )

    def list(self) -> list[Problem]:
        """The latest version of each problem, by name."""
        with self._ws.store.read() as session:
            rows = latest_versions(session, ProblemRow)
        return [Problem._from_row(r) for r in rows]

    def history(self, name: str) -> list[Problem]:
        """Every version of problem ``name``, oldest first."""
        self.get(name)
        with self._ws.store.read() as session:
            rows = session.scalars(
                select(ProblemRow).where(ProblemRow.name == name).order_by(ProblemRow.version)
            ).all()
        return [Problem._from_row(r) for r in rows]


def check_target(workspace: Context, spec: dict, dataset: Any, *, where: str) -> list | None:
    """Check that ``dataset`` holds the spec's target and, for a cost matrix, that its classes
    are the target's; returns the target's classes when there is a cost matrix."""
    target = spec["target"]
    if target not in dataset.columns:
        raise ConfigError(
            f"The target {target!r} of {where} is not a column of data set {dataset.ref}. "
            f"Its columns: {', '.join(dataset.columns)}. Fix 'target' in the problem spec, or "
            "train on the data set it is about.",
            code="problem.target-not-in-data",
            field="target",
        )
    if not spec.get("cost"):
        return None
    values = workspace.data.load(dataset, columns=[target])[target].dropna()
    classes = order_classes(values.unique().tolist())
    error = cost_classes_error(spec["cost"], classes, target=target, where=where)
    if error is not None:
        raise error
    return classes
