"""Endpoints: a name that serves a model version, with a deployment history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete as sql_delete
from sqlalchemy import select

from kiln.errors import KilnError, NotFound
from kiln.refs import check_name
from kiln.registry import APPROVED, live_variant, record_revision, write_revision
from kiln.store import DeploymentRow, EndpointRow, LineageRow, Record, new_id, now, who

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["Endpoint", "EndpointService"]


@dataclass(frozen=True)
class Endpoint(Record):
    id: str
    name: str
    variants: list
    revision: int
    created_at: datetime
    updated_at: datetime
    created_by: str

    @property
    def model(self) -> str:
        """The model of the live variant (``GROUP:VERSION``)."""
        return next(v["model"] for v in self.variants if v.get("role", "live") == "live")

    def to_dict(self) -> dict:
        return self._plain() | {"model": self.model}


class EndpointService:
    """``ws.endpoints``: deploy models to named endpoints and inspect them."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def deploy(self, model: str, *, endpoint: str, allow_unapproved: bool = False) -> Endpoint:
        """Point ``endpoint`` at model version ``model`` (creating the endpoint if needed).

        Only Approved versions are deployed, unless ``allow_unapproved`` (or the workspace sets
        ``require_approval = false``), which the deployment history records; Rejected and
        Archived never are. The model file is verified before the endpoint changes.
        """
        check_name(endpoint, what="endpoint")
        version = self._ws.models.get(model)
        self._ws.models.check_deployable(version, allow_unapproved=allow_unapproved)
        self._ws.models.load(version)  # refuses a missing or tampered artifact up front
        variants = [live_variant(version)]
        note = None
        if version.approval_status != APPROVED:
            why = "--allow-unapproved" if allow_unapproved else "require_approval = false"
            note = f"deployed {version.ref} while {version.approval_status} ({why})"
        with self._ws.store.write() as session:
            row = session.scalars(select(EndpointRow).where(EndpointRow.name == endpoint)).first()
            if row is None:
                stamp = now()
                row = EndpointRow(
                    id=new_id("ep"),
                    name=endpoint,
                    variants=variants,
                    revision=1,
                    created_at=stamp,
                    updated_at=stamp,
                    created_by=who(),
                )
                session.add(row)
                session.flush()
                record_revision(session, row, note=note)
            else:
                write_revision(session, row, variants, note=note)
            return Endpoint._from_row(row)

    def delete(self, name: str) -> Endpoint:
        """Delete an endpoint and its deployment history; the models it served stay.

        A running server stops serving it within a second (then answers 404).
        """
        endpoint = self.get(name)
        with self._ws.store.write() as session:
            session.execute(
                sql_delete(DeploymentRow).where(DeploymentRow.endpoint_id == endpoint.id)
            )
            session.execute(
                sql_delete(LineageRow).where(
                    (LineageRow.target_kind == "endpoint") & (LineageRow.target_id == endpoint.id)
                )
            )
            session.delete(session.get(EndpointRow, endpoint.id))
        return endpoint

    def get(self, name: str) -> Endpoint:
        with self._ws.store.read() as session:
            row = session.scalars(select(EndpointRow).where(EndpointRow.name == name)).first()
            if row is None:
                raise NotFound(
                    f"No endpoint named {name!r}. See 'kiln endpoints list', or create it with "
                    f"'kiln deploy GROUP:VERSION --endpoint {name}'.",
                    code="serving.unknown-endpoint",
                )
            return Endpoint._from_row(row)

    def list(self) -> list[Endpoint]:
        with self._ws.store.read() as session:
            rows = session.scalars(select(EndpointRow).order_by(EndpointRow.name)).all()
            return [Endpoint._from_row(r) for r in rows]

    def health(self, name: str) -> dict:
        """Whether the endpoint's model can be served as far as the workspace can tell: its
        record exists and its file is there with its recorded digest.

        ``{"status": "ready"}``, or ``{"status": "failed", "reason": ...}`` (what a server would
        answer 503 for). Whether the model unpickles in the server's environment only the server
        knows: its ``/ping`` lists the endpoints it failed to load.
        """
        endpoint = self.get(name)
        try:
            version = self._ws.models.get(endpoint.model)
            self._ws.artifacts.local_path(version.digest, what=f"model {version.ref}")
        except KilnError as exc:
            return {"status": "failed", "reason": exc.message}
        except Exception as exc:  # an unreadable file or store: reported, not raised
            return {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}
        return {"status": "ready"}

    def revisions(self) -> dict[str, int]:
        """``{name: revision}`` of every endpoint: a cheap check for changes."""
        with self._ws.store.read() as session:
            return dict(session.execute(select(EndpointRow.name, EndpointRow.revision)).all())

    def history(self, name: str) -> list[dict]:
        endpoint = self.get(name)
        with self._ws.store.read() as session:
            rows = session.scalars(
                select(DeploymentRow)
                .where(DeploymentRow.endpoint_id == endpoint.id)
                .order_by(DeploymentRow.revision)
            ).all()
            return [
                {
                    "revision": r.revision,
                    "variants": r.variants,
                    "created_at": r.created_at.isoformat() + "Z",
                    "created_by": r.created_by,
                    "note": r.note,
                }
                for r in rows
            ]
