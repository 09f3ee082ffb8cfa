"""The model registry: groups, versions, approval and verified loading."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from kiln.errors import NotFound, StateError
from kiln.problems import legacy_automl_metrics
from kiln.refs import parse_ref
from kiln.registry._model import TrainedModel
from kiln.store import ModelGroupRow, ModelVersionRow, Record, link, new_id, now, who

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["APPROVED", "PENDING", "REJECTED", "ModelRegistry", "ModelVersion"]

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"


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
        """``group`` (its latest version) or ``group:3``."""
        group, version = parse_ref(ref, what="model")
        with self._ws.store.read() as session:
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

    def approve(self, ref: str, *, reason: str = "") -> ModelVersion:
        return self._set_status(ref, APPROVED, reason)

    def reject(self, ref: str, *, reason: str = "") -> ModelVersion:
        return self._set_status(ref, REJECTED, reason)

    def _set_status(self, ref: str, status: str, reason: str) -> ModelVersion:
        version = self.get(ref)
        with self._ws.store.write() as session:
            row = session.get(ModelVersionRow, version.id)
            row.approval_status = status
            row.approval_by = who()
            row.approval_at = now()
            row.approval_reason = reason
            return ModelVersion._from_row(row)

    def load(self, ref: str | ModelVersion) -> TrainedModel:
        """The fitted model, after checking its file against the recorded digest."""

        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        data = self._ws.artifacts.read_bytes(version.digest, what=f"model {version.ref}")
        return TrainedModel.from_bytes(data)

    def check_deployable(self, version: ModelVersion) -> None:
        if version.approval_status == REJECTED:
            raise StateError(
                f"Model {version.ref} is Rejected"
                + (f" ({version.approval_reason})" if version.approval_reason else "")
                + f" and cannot be deployed. Deploy another version, or approve it first with "
                f"'kiln models approve {version.ref} --reason ...'.",
                code="registry.rejected",
            )
        if self._ws.settings.require_approval and version.approval_status != APPROVED:
            raise StateError(
                f"Model {version.ref} is {version.approval_status}, and this workspace "
                "deploys only "
                f"approved models (require_approval). Approve it with "
                f"'kiln models approve {version.ref} --reason ...'.",
                code="registry.not-approved",
            )
