"""The model registry: groups, versions, approval and verified loading."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Float, func, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import load_only

from kiln.errors import ConfigError, NotFound, StateError
from kiln.problems import headline_metrics, legacy_automl_metrics
from kiln.refs import check_alias, parse_model_ref
from kiln.registry._deployments import serving_endpoints, write_revision
from kiln.registry._model import TrainedModel
from kiln.store import (
    DatasetVersionRow,
    DeploymentRow,
    LineageRow,
    ModelAliasRow,
    ModelApprovalEventRow,
    ModelGroupRow,
    ModelVersionRow,
    Page,
    Record,
    like_pattern,
    link,
    new_id,
    now,
    paged,
    who,
)

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "APPROVED",
    "ARCHIVED",
    "PENDING",
    "REJECTED",
    "STATUSES",
    "ModelGroup",
    "ModelRegistry",
    "ModelVersion",
    "ModelVersionSummary",
]

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
# Retired: kept with its history, never deployed; approve or reject again to bring it back.
ARCHIVED = "Archived"
STATUSES = (PENDING, APPROVED, REJECTED, ARCHIVED)
# A metric to sort versions by: SPLIT.METRIC, e.g. test.roc_auc or cv_mean.rmse.
_METRIC_SORT = re.compile(r"^(train|validation|test|cv_mean|oof)\.([a-z0-9_]+)$")


@dataclass(frozen=True)
class ModelVersion(Record):
    id: str
    group: str
    version: int
    digest: str
    algorithm: str
    problem_type: str
    target: str
    signature: dict
    metrics: dict
    hyperparameters: dict
    library_versions: dict
    dataset_version_id: str | None
    job_id: str | None
    approval_status: str
    approval_by: str | None
    approval_at: datetime | None
    approval_reason: str | None
    created_at: datetime
    created_by: str
    details: dict | None = None
    # The compiled forms by target ("onnx", "native"), see ``kiln compile``; None: none.
    compiled: dict | None = None

    def __post_init__(self) -> None:
        # AutoML versions registered before metrics were labelled by source kept their
        # out-of-fold metrics under "validation"; they read back under "oof", where new ones are.
        if self.algorithm == "automl" and self.metrics:
            object.__setattr__(self, "metrics", legacy_automl_metrics(self.metrics))

    @property
    def ref(self) -> str:
        return f"{self.group}:{self.version}"

    def to_dict(self) -> dict:
        return self._plain() | {"ref": self.ref}


@dataclass(frozen=True)
class ModelVersionSummary(Record):
    """A version as a list shows it: no signature, details or compiled forms (large JSON that a
    page of 500 rows need not read)."""

    id: str
    group: str
    version: int
    algorithm: str
    problem_type: str
    target: str
    metrics: dict
    dataset_version_id: str | None
    job_id: str | None
    approval_status: str
    approval_by: str | None
    approval_at: datetime | None
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.group}:{self.version}"

    def to_dict(self) -> dict:
        return self._plain() | {"ref": self.ref}


_SUMMARY_COLUMNS = [
    getattr(ModelVersionRow, name) for name in ModelVersionSummary.__dataclass_fields__
]


@dataclass(frozen=True)
class ModelGroup(Record):
    """A model group with its latest version (``None`` for an empty group) and how many it has."""

    name: str
    description: str
    created_at: datetime
    created_by: str
    versions: int
    latest: ModelVersionSummary | None

    def to_dict(self) -> dict:
        out = self._plain()
        out["latest"] = self.latest.to_dict() if self.latest is not None else None
        return out


def _with_versions(session, rows: list[ModelGroupRow]) -> list[ModelGroup]:
    """The groups of ``rows`` with their version counts and latest versions: two queries
    whatever the number of groups."""
    names = [row.name for row in rows]
    counts = dict(
        session.execute(
            # count(*), not count(id): the group index alone answers it
            select(ModelVersionRow.group, func.count())
            .where(ModelVersionRow.group.in_(names))
            .group_by(ModelVersionRow.group)
        ).all()
    )
    newest = (
        select(ModelVersionRow.group, func.max(ModelVersionRow.version).label("top"))
        .where(ModelVersionRow.group.in_(names))
        .group_by(ModelVersionRow.group)
        .subquery()
    )
    latest = {
        row.group: ModelVersionSummary._from_row(row)
        for row in session.scalars(
            select(ModelVersionRow)
            .options(load_only(*_SUMMARY_COLUMNS))
            .join(
                newest,
                (ModelVersionRow.group == newest.c.group)
                & (ModelVersionRow.version == newest.c.top),
            )
        )
    }
    return [
        ModelGroup(
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            created_by=row.created_by,
            versions=int(counts.get(row.name, 0)),
            latest=latest.get(row.name),
        )
        for row in rows
    ]


class ModelRegistry:
    """``ws.models``: register, find, approve, reject and load model versions."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def register(
        self,
        model: TrainedModel,
        *,
        group: str,
        algorithm: str,
        target: str,
        hyperparameters: dict,
        metrics: dict,
        dataset_version_id: str | None = None,
        job_id: str | None = None,
        details: dict | None = None,
    ) -> ModelVersion:
        """Store ``model``'s artifact and record it as the next version of ``group``.
        ``details`` holds what the version carries beyond metrics (e.g. an AutoML leaderboard)."""
        digest = self._ws.artifacts.put_bytes(model.to_bytes())
        with self._ws.store.write() as session:
            if session.get(ModelGroupRow, group) is None:
                session.add(
                    ModelGroupRow(name=group, description="", created_at=now(), created_by=who())
                )
                session.flush()
            latest = session.scalar(
                select(func.max(ModelVersionRow.version)).where(ModelVersionRow.group == group)
            )
            row = ModelVersionRow(
                id=new_id("model"),
                group=group,
                version=(latest or 0) + 1,
                digest=digest,
                algorithm=algorithm,
                problem_type=model.problem_type,
                target=target,
                signature=model.signature,
                metrics=metrics,
                hyperparameters=hyperparameters,
                library_versions=model.library_versions,
                dataset_version_id=dataset_version_id,
                job_id=job_id,
                approval_status=PENDING,
                created_at=now(),
                created_by=who(),
                details=details,
            )
            session.add(row)
            session.flush()
            if job_id is not None:
                link(session, ("job", job_id), ("model_version", row.id), "output")
            return ModelVersion._from_row(row)

    def get(self, ref: str) -> ModelVersion:
        """``group`` (its latest version), ``group:3`` or an alias, ``group@production``."""
        group, version, alias = parse_model_ref(ref)
        with self._ws.store.read() as session:
            if alias is not None:
                return ModelVersion._from_row(self._aliased(session, group, alias))
            query = select(ModelVersionRow).where(ModelVersionRow.group == group)
            if version is None:
                query = query.order_by(ModelVersionRow.version.desc())
            else:
                query = query.where(ModelVersionRow.version == version)
            row = session.scalars(query.limit(1)).first()
            if row is not None:
                return ModelVersion._from_row(row)
            versions = session.scalars(
                select(ModelVersionRow.version).where(ModelVersionRow.group == group)
            ).all()
        if versions:
            raise NotFound(
                f"Model {group!r} has no version {version}; it has versions "
                f"{', '.join(map(str, sorted(versions)))}.",
                code="registry.unknown-version",
            )
        raise NotFound(
            f"No model named {group!r}. See 'kiln models list', or train one with 'kiln train'.",
            code="registry.unknown-model",
        )

    def _aliased(self, session, group: str, alias: str) -> ModelVersionRow:
        row = session.get(ModelAliasRow, (group, alias))
        if row is not None:
            return session.get(ModelVersionRow, row.model_version_id)
        known = session.scalars(select(ModelAliasRow.alias).where(ModelAliasRow.group == group))
        names = ", ".join(f"{group}@{a}" for a in sorted(known))
        if session.get(ModelGroupRow, group) is None:
            self.get(group)  # raises registry.unknown-model
        raise NotFound(
            f"Model {group!r} has no alias {alias!r}; "
            + (f"its aliases are {names}. " if names else "it has none. ")
            + f"Set one with 'kiln models alias {group}:VERSION {alias}'.",
            code="registry.unknown-alias",
        )

    def get_by_id(self, model_version_id: str) -> ModelVersion:
        with self._ws.store.read() as session:
            row = session.get(ModelVersionRow, model_version_id)
            if row is None:
                raise NotFound(
                    f"No model version with id {model_version_id!r}.", code="registry.unknown-id"
                )
            return ModelVersion._from_row(row)

    def list(self, group: str | None = None) -> list[ModelVersion]:
        with self._ws.store.read() as session:
            query = select(ModelVersionRow).order_by(ModelVersionRow.group, ModelVersionRow.version)
            if group is not None:
                query = query.where(ModelVersionRow.group == group)
            rows = session.scalars(query).all()
        if group is not None and not rows:
            self.get(group)
        return [ModelVersion._from_row(r) for r in rows]

    def groups_page(
        self,
        *,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[ModelGroup]:
        """A page of model groups (``q`` finds text in the name), each with its latest version
        and its number of versions: three queries whatever the page's size."""
        query = select(ModelGroupRow)
        if q:
            query = query.where(ModelGroupRow.name.like(like_pattern(q), escape="\\"))
        columns = {"name": ModelGroupRow.name, "created_at": ModelGroupRow.created_at}
        with self._ws.store.read() as session:
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort,
                columns=columns,
                default_sort="name",
            )
            items = _with_versions(session, page.items)
        return page.with_items(items)

    def versions_page(
        self,
        *,
        group: str | None = None,
        status: str | None = None,
        algorithm: str | None = None,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[ModelVersionSummary]:
        """A page of model versions, newest first by default, as summaries (no signature or
        details). Filters: ``group`` (an unknown one is refused), approval ``status``,
        ``algorithm``, and ``q`` (text in the group, algorithm, target or maker). ``sort``:
        ``version``, ``created_at``, ``group``, or a metric as ``SPLIT.METRIC``
        (``test.roc_auc``; versions without it last), ``-`` before it for descending."""
        query = select(ModelVersionRow).options(load_only(*_SUMMARY_COLUMNS))
        if group is not None:
            with self._ws.store.read() as session:
                if session.get(ModelGroupRow, group) is None:
                    raise NotFound(
                        f"No model named {group!r}. See 'kiln models list', or train one with "
                        "'kiln train'.",
                        code="registry.unknown-model",
                    )
            query = query.where(ModelVersionRow.group == group)
        if status:
            if status not in STATUSES:
                raise ConfigError(
                    f"Unknown approval status {status!r}. Filter by one of: {', '.join(STATUSES)}.",
                    code="registry.bad-status",
                    field="status",
                )
            query = query.where(ModelVersionRow.approval_status == status)
        if algorithm:
            query = query.where(ModelVersionRow.algorithm == algorithm)
        if q:
            pattern = like_pattern(q)
            query = query.where(
                or_(
                    *(
                        column.like(pattern, escape="\\")
                        for column in (
                            ModelVersionRow.group,
                            ModelVersionRow.algorithm,
                            ModelVersionRow.target,
                            ModelVersionRow.created_by,
                        )
                    )
                )
            )
        # The id breaks ties: two versions made in the same instant never swap between pages.
        columns = {
            "id": ModelVersionRow.id,
            "created_at": ModelVersionRow.created_at,
            "version": ModelVersionRow.version,
            "group": ModelVersionRow.group,
        }
        name = (sort or "").removeprefix("-")
        metric = _METRIC_SORT.match(name)
        if sort and metric is None and name not in columns:
            raise ConfigError(
                f"Cannot sort model versions by {name!r}. Sort by one of: created_at, version, "
                "group, or a metric as SPLIT.METRIC (e.g. test.roc_auc, cv_mean.rmse); prefix "
                "'-' for newest or largest first.",
                code="page.bad-sort",
                field="sort",
            )
        if metric is not None:
            split, name = metric.groups()
            columns[metric.group(0)] = func.coalesce(
                ModelVersionRow.metrics[split][name].as_float(),
                -1e308 if sort.startswith("-") else 1e308,
            ).cast(Float)
        with self._ws.store.read() as session:
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort,
                columns=columns,
                default_sort="-created_at",
            )
            items = [ModelVersionSummary._from_row(row) for row in page.items]
        return page.with_items(items)

    def group(self, name: str) -> ModelGroup:
        """One model group with its latest version and number of versions."""
        with self._ws.store.read() as session:
            row = session.get(ModelGroupRow, name)
            if row is None:
                raise NotFound(
                    f"No model named {name!r}. See 'kiln models list', or train one with "
                    "'kiln train'.",
                    code="registry.unknown-model",
                )
            return _with_versions(session, [row])[0]

    def card(self, ref: str) -> dict:
        """The version's model card: what it is, what it was trained on and by whom, how well it
        does (its headline metric and the success criteria checked when it was trained), what it
        takes and answers, and where its approval stands. Built from the records, so it is never
        out of date; ``criteria`` is None when none were checked."""
        version = self.get(ref)
        data_set = None
        if version.dataset_version_id is not None:
            with self._ws.store.read() as session:
                row = session.get(DatasetVersionRow, version.dataset_version_id)
                data_set = f"{row.name}:{row.version}" if row is not None else None
        details = version.details or {}
        headline, values = headline_metrics(version.metrics or {})
        signature = version.signature or {}
        return {
            "model": version.ref,
            "algorithm": version.algorithm,
            "problem_type": version.problem_type,
            "target": version.target,
            "created_at": version.created_at.isoformat() + "Z",
            "created_by": version.created_by,
            "data_set": data_set,
            "job": version.job_id,
            "hyperparameters": version.hyperparameters,
            "headline_metric": {"metric": headline, "values": values} if headline else None,
            "problem": details.get("problem"),
            "criteria": details.get("criteria"),
            "inputs": [
                {
                    "name": column.get("name"),
                    "dtype": column.get("dtype"),
                    "categories": len(column.get("categories") or []),
                }
                for column in signature.get("inputs") or []
            ],
            "outputs": signature.get("outputs"),
            "approval": {
                "status": version.approval_status,
                "by": version.approval_by,
                "at": version.approval_at.isoformat() + "Z" if version.approval_at else None,
                "reason": version.approval_reason,
            },
            "library_versions": version.library_versions,
            "compiled": sorted(version.compiled or {}),
        }

    def algorithms(self) -> list[str]:
        """The algorithms the registry's versions were trained with (a filter's choices)."""
        with self._ws.store.read() as session:
            return list(
                session.scalars(
                    select(ModelVersionRow.algorithm).distinct().order_by(ModelVersionRow.algorithm)
                )
            )

    def add_details(self, ref: str, **values) -> ModelVersion:
        """Merge ``values`` into a version's ``details`` (what it carries beyond metrics: e.g. a
        retraining's comparison with the model it would replace)."""
        version = self.get(ref)
        with self._ws.store.write() as session:
            row = session.get(ModelVersionRow, version.id)
            row.details = {**(row.details or {}), **values}
            session.flush()
            return ModelVersion._from_row(row)

    def set_compiled(self, ref: str, target: str, record: dict | None) -> ModelVersion:
        """Record (or with None, remove) the compiled form of a version for ``target``, in one
        transaction (``kiln compile``; the record's ``digest`` names the compiled artifact).

        When the form serves (``record["serving"]``, or a removal), each endpoint serving the
        version gets a new revision with the same variants, so running servers reload it."""
        version = self.get(ref)
        with self._ws.store.write() as session:
            row = session.get(ModelVersionRow, version.id)
            forms = dict(row.compiled or {})
            if record is None:
                forms.pop(target, None)
            else:
                forms[target] = record
            row.compiled = forms or None
            session.flush()
            if record is None or record.get("serving", True):
                for endpoint in serving_endpoints(session, version.id):
                    write_revision(
                        session,
                        endpoint,
                        list(endpoint.variants),
                        note=f"{version.ref}: compiled form "
                        + (f"{target} serves" if record is not None else f"{target} removed"),
                    )
            return ModelVersion._from_row(row)

    # -- approval ---------------------------------------------------------------------------

    def approve(self, ref: str, *, reason: str = "") -> ModelVersion:
        """Mark a version Approved: deployable (see :meth:`check_deployable`)."""
        return self._decide(ref, APPROVED, reason)

    def reject(self, ref: str, *, reason: str = "", undeploy: bool = False) -> ModelVersion:
        """Mark a version Rejected: never deployable.

        A version an endpoint serves is refused (``registry.deployed``) unless ``undeploy``, which
        rolls each such endpoint back to the newest earlier revision whose models are all
        Approved, in the same transaction.
        """
        return self._decide(ref, REJECTED, reason, undeploy=undeploy)

    def archive(self, ref: str, *, reason: str = "", undeploy: bool = False) -> ModelVersion:
        """Retire a version: kept with its history, never deployable; like :meth:`reject` for
        served versions. Approve or reject it again to bring it back."""
        return self._decide(ref, ARCHIVED, reason, undeploy=undeploy)

    def _decide(
        self, ref: str, status: str, reason: str, *, undeploy: bool = False
    ) -> ModelVersion:
        version = self.get(ref)
        with self._ws.store.write() as session:
            row = session.get(ModelVersionRow, version.id)
            if status in (REJECTED, ARCHIVED):
                serving = serving_endpoints(session, row.id)
                if serving and not undeploy:
                    names = ", ".join(e.name for e in serving)
                    verb = "Rejecting" if status == REJECTED else "Archiving"
                    command = "reject" if status == REJECTED else "archive"
                    raise StateError(
                        f"Model {version.ref} is served by endpoint(s) {names}. {verb} it would "
                        f"leave them serving a {status} model. Roll them back to their previous "
                        f"Approved version with 'kiln models {command} {version.ref} --undeploy' "
                        "(SDK: undeploy=True), or deploy another version to them first.",
                        code="registry.deployed",
                    )
                for endpoint in serving:
                    self._roll_back(session, endpoint, version, status)
            stamp, by = now(), who()
            row.approval_status = status
            row.approval_by = by
            row.approval_at = stamp
            row.approval_reason = reason
            session.add(
                ModelApprovalEventRow(
                    model_version_id=row.id,
                    status=status,
                    reason=reason,
                    created_at=stamp,
                    created_by=by,
                )
            )
            return ModelVersion._from_row(row)

    def _roll_back(self, session, endpoint, version: ModelVersion, status: str) -> None:
        """Point ``endpoint`` at its newest earlier revision whose models are all Approved."""
        history = session.scalars(
            select(DeploymentRow)
            .where(DeploymentRow.endpoint_id == endpoint.id)
            .order_by(DeploymentRow.revision.desc())
        ).all()
        for entry in history:
            ids = [v["model_version_id"] for v in entry.variants]
            if version.id in ids:
                continue
            rows = [session.get(ModelVersionRow, i) for i in ids]
            if not rows or any(r is None or r.approval_status != APPROVED for r in rows):
                continue
            for r in rows:  # refuses a missing or changed file before the endpoint changes
                self._ws.artifacts.local_path(r.digest, what=f"model {r.group}:{r.version}")
            by_id = {r.id: ModelVersion._from_row(r) for r in rows}
            variants = [
                v | {"model": by_id[v["model_version_id"]].ref, "approval_status": APPROVED}
                for v in entry.variants
            ]
            write_revision(
                session,
                endpoint,
                variants,
                note=f"rolled back to revision {entry.revision}: {version.ref} was {status}",
            )
            return
        raise StateError(
            f"Endpoint {endpoint.name} serves {version.ref} and has no earlier revision whose "
            f"models are all Approved to roll back to, so {version.ref} stays as it is. Deploy "
            f"an Approved version to {endpoint.name} first, or delete the endpoint with "
            f"'kiln endpoints delete {endpoint.name}'.",
            code="registry.no-rollback-target",
        )

    def approvals(self, ref: str) -> list[dict]:
        """Every approval decision on a version, oldest first: status, reason, who, when."""
        version = self.get(ref)
        with self._ws.store.read() as session:
            rows = session.scalars(
                select(ModelApprovalEventRow)
                .where(ModelApprovalEventRow.model_version_id == version.id)
                .order_by(ModelApprovalEventRow.id)
            ).all()
            return [
                {
                    "status": r.status,
                    "reason": r.reason,
                    "at": r.created_at.isoformat() + "Z",
                    "by": r.created_by,
                }
                for r in rows
            ]

    def serving(self, ref: str) -> list[str]:
        """The names of the endpoints that serve this version now."""
        version = self.get(ref)
        with self._ws.store.read() as session:
            return [e.name for e in serving_endpoints(session, version.id)]

    # -- aliases ----------------------------------------------------------------------------

    def set_alias(self, ref: str, alias: str) -> ModelVersion:
        """Point ``group@alias`` at the version ``ref`` names (moving it if it exists).

        An endpoint deployed by alias keeps the version it resolved to; moving the alias does
        not redeploy (deploy again to follow it).
        """
        check_alias(alias)
        version = self.get(ref)
        with self._ws.store.write() as session:
            row = session.get(ModelAliasRow, (version.group, alias))
            if row is None:
                row = ModelAliasRow(group=version.group, alias=alias)
                session.add(row)
            row.model_version_id = version.id
            row.created_at = now()
            row.created_by = who()
        return version

    def remove_alias(self, ref: str) -> None:
        """Remove ``group@alias``; the version it named stays."""
        group, _, alias = parse_model_ref(ref)
        if alias is None:
            raise ConfigError(
                f"Name the alias to remove as GROUP@ALIAS, e.g. 'churn@production'. Got {ref!r}.",
                code="name.invalid-alias",
            )
        with self._ws.store.write() as session:
            self._aliased(session, group, alias)  # raises when there is no such alias
            session.delete(session.get(ModelAliasRow, (group, alias)))

    def aliases(self, group: str | None = None) -> dict[str, str]:
        """``{"churn@production": "churn:3", ...}``."""
        with self._ws.store.read() as session:
            query = select(ModelAliasRow, ModelVersionRow).join(
                ModelVersionRow, ModelVersionRow.id == ModelAliasRow.model_version_id
            )
            if group is not None:
                query = query.where(ModelAliasRow.group == group)
            return {
                f"{a.group}@{a.alias}": f"{v.group}:{v.version}"
                for a, v in session.execute(
                    query.order_by(ModelAliasRow.group, ModelAliasRow.alias)
                )
            }

    # -- removal and export -----------------------------------------------------------------

    def delete(self, ref: str) -> ModelVersion:
        """Delete a version's record, approval history and aliases.

        Refused while an endpoint serves it. The model file stays in the artifact store until
        ``kiln gc`` finds no record refers to it, so a deletion can be undone from a backup of
        the metadata store alone.
        """
        _, number, alias = parse_model_ref(ref)
        if number is None and alias is None:
            raise ConfigError(
                f"Name the version to delete, e.g. '{ref}:1': deleting {ref!r} alone would pick "
                "the latest version by accident.",
                code="registry.delete-needs-version",
            )
        version = self.get(ref)
        with self._ws.store.write() as session:
            serving = serving_endpoints(session, version.id)
            if serving:
                names = ", ".join(e.name for e in serving)
                raise StateError(
                    f"Model {version.ref} is served by endpoint(s) {names} and cannot be deleted. "
                    f"Archive it with 'kiln models archive {version.ref} --undeploy' (which rolls "
                    "them back), deploy another version to them, or delete them first.",
                    code="registry.deployed",
                )
            for model in (ModelAliasRow, ModelApprovalEventRow):
                session.execute(sql_delete(model).where(model.model_version_id == version.id))
            session.execute(
                sql_delete(LineageRow).where(
                    or_(
                        (LineageRow.source_kind == "model_version")
                        & (LineageRow.source_id == version.id),
                        (LineageRow.target_kind == "model_version")
                        & (LineageRow.target_id == version.id),
                    )
                )
            )
            session.delete(session.get(ModelVersionRow, version.id))
            session.flush()
            left = session.scalar(
                select(func.count(ModelVersionRow.id)).where(ModelVersionRow.group == version.group)
            )
            if not left:
                session.execute(
                    sql_delete(ModelAliasRow).where(ModelAliasRow.group == version.group)
                )
                session.delete(session.get(ModelGroupRow, version.group))
        return version

    def export(self, ref: str, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the version's model file (verified against its digest) to ``path``.

        The file is a pickle: loading it runs code, so load only files you trust, with
        :func:`kiln.load_model` in an environment with the library versions the model records.
        """
        version = self.get(ref)
        out = Path(path)
        if out.is_dir():
            out = out / f"{version.group}-{version.version}.kiln-model"
        if out.exists() and not overwrite:
            raise StateError(
                f"{out} exists. Choose another path, or overwrite it (CLI --force, SDK "
                "overwrite=True).",
                code="registry.export-exists",
            )
        data = self._ws.artifacts.read_bytes(version.digest, what=f"model {version.ref}")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, out)
        return out

    def load(self, ref: str | ModelVersion) -> TrainedModel:
        """The fitted model, after checking its file against the recorded digest."""

        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        data = self._ws.artifacts.read_bytes(version.digest, what=f"model {version.ref}")
        return TrainedModel.from_bytes(data)

    def check_deployable(self, version: ModelVersion, *, allow_unapproved: bool = False) -> None:
        """Refuse what must not serve: Rejected and Archived always; anything not Approved
        unless ``allow_unapproved`` or the workspace sets ``require_approval = false``."""
        if version.approval_status in (REJECTED, ARCHIVED):
            raise StateError(
                f"Model {version.ref} is {version.approval_status}"
                + (f" ({version.approval_reason})" if version.approval_reason else "")
                + " and cannot be deployed. Deploy another version, or approve it first with "
                f"'kiln models approve {version.ref} --reason ...'.",
                code="registry.rejected",
            )
        if version.approval_status != APPROVED and not (
            allow_unapproved or not self._ws.settings.require_approval
        ):
            raise StateError(
                f"Model {version.ref} is {version.approval_status}: only Approved models are "
                f"deployed. Approve it with 'kiln models approve {version.ref} --reason ...', or "
                "deploy it unapproved with --allow-unapproved (SDK: allow_unapproved=True), which "
                "the deployment history records.",
                code="registry.not-approved",
            )
