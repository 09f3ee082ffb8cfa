"""The audit log: every state change made through Studio, with who, when, what and why, and
whether it went through (refusals are recorded too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from kiln.store import AuditEventRow, Page, Record, like_pattern, now, paged, who

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["AuditEvent", "AuditLog"]

OUTCOMES = ("ok", "refused", "failed")


@dataclass(frozen=True)
class AuditEvent(Record):
    id: int
    at: datetime
    user: str
    action: str
    target: str
    reason: str
    outcome: str
    detail: dict

    def to_dict(self) -> dict:
        return self._plain()


class AuditLog:
    """``ws.audit``: what was changed through Studio, by whom and why (see docs/studio.md)."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def record(
        self,
        action: str,
        target: str,
        *,
        reason: str = "",
        outcome: str = "ok",
        user: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Record one change: ``action`` (``model.approve``), its ``target`` (``churn:3``)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        row = AuditEventRow(
            at=now(),
            user=user or who(),
            action=action,
            target=str(target)[:300],
            reason=reason or "",
            outcome=outcome,
            detail=detail or {},
        )
        with self._ws.store.write() as session:
            session.add(row)
            session.flush()
            return AuditEvent._from_row(row)

    def page(
        self,
        *,
        q: str | None = None,
        user: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[AuditEvent]:
        """A page of events, newest first: ``q`` finds text in the action, target or reason;
        ``action`` matches an action or its prefix (``model.``)."""
        query = select(AuditEventRow)
        if q:
            pattern = like_pattern(q)
            query = query.where(
                or_(
                    AuditEventRow.action.like(pattern, escape="\\"),
                    AuditEventRow.target.like(pattern, escape="\\"),
                    AuditEventRow.reason.like(pattern, escape="\\"),
                    AuditEventRow.user.like(pattern, escape="\\"),
                )
            )
        if user:
            query = query.where(AuditEventRow.user == user)
        if action:
            query = query.where(AuditEventRow.action.startswith(action, autoescape=True))
        if outcome:
            query = query.where(AuditEventRow.outcome == outcome)
        columns = {
            "id": AuditEventRow.id,
            "at": AuditEventRow.at,
            "user": AuditEventRow.user,
            "action": AuditEventRow.action,
        }
        with self._ws.store.read() as session:
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort,
                columns=columns,
                default_sort="-id",
            )
            return page.with_items([AuditEvent._from_row(r) for r in page.items])
