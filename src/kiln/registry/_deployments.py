"""Which endpoints serve a model version, and how a deployment revision is written.

Both the registry (rejecting or archiving a served version rolls its endpoints back) and the
endpoint service (deploying) write revisions, in the caller's transaction, so a status change and
the rollback it causes commit together or not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.store import DeploymentRow, EndpointRow, link, now, who

if TYPE_CHECKING:
    from kiln.registry._registry import ModelVersion

__all__ = ["live_variant", "record_revision", "serving_endpoints", "write_revision"]


def live_variant(version: ModelVersion) -> dict:
    """The one live variant an endpoint gets from ``kiln deploy``."""
    return {
        "name": "primary",
        "model": version.ref,
        "model_version_id": version.id,
        "weight": 1.0,
        "role": "live",
        "approval_status": version.approval_status,
    }


def serving_endpoints(session: Session, model_version_id: str) -> list[EndpointRow]:
    """The endpoints whose current variants include the version, by name."""
    rows = session.scalars(select(EndpointRow).order_by(EndpointRow.name)).all()
    return [
        row
        for row in rows
        if any(v.get("model_version_id") == model_version_id for v in row.variants)
    ]


def write_revision(
    session: Session, row: EndpointRow, variants: list[dict], **details: str | None
) -> None:
    """Give an existing endpoint row new variants as its next revision, with a history entry
    (``details``: ``note``, ``strategy``, ``job_id``, ``outcome``)."""
    stamp = now()
    row.variants = variants
    row.revision = row.revision + 1
    row.updated_at = stamp
    session.flush()
    record_revision(session, row, **details)


def record_revision(session: Session, row: EndpointRow, **details: str | None) -> None:
    """The history entry of the endpoint row's current revision, and its lineage links."""
    session.add(
        DeploymentRow(
            endpoint_id=row.id,
            revision=row.revision,
            variants=row.variants,
            created_at=row.updated_at,
            created_by=who(),
            **details,
        )
    )
    for variant in row.variants:
        link(
            session,
            ("model_version", variant["model_version_id"]),
            ("endpoint", row.id),
            "deployed",
        )
