"""Who a Studio request comes from, and what they may do: a browser session (cookie, with a CSRF
token on every change) or an API token (``Authorization: Bearer kilnu_...``); role checks that
answer 403 naming the role needed; and :func:`audited`, which runs a change as its user and
records it in the audit log."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from kiln.errors import AccessDenied, KilnError, NotSignedIn
from kiln.store import acting_as
from kiln.users import User, role_allows
from kiln.workspace import Workspace

SESSION_COOKIE = "kiln_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The only API an annotator may call: its own session and the labelling tasks. Everything else
# in Studio (data, models, endpoints...) needs the viewer role.
ANNOTATOR_PATHS = ("/api/session", "/api/labeling/")


@dataclass(frozen=True)
class Caller:
    """The signed-in user of a request, and how they signed in (``session`` or ``token``)."""

    user: User
    via: str
    csrf: str = ""

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def acting(self) -> str:
        """What records name as their maker: the user, marked as acting through Studio."""
        return f"{self.user.name} (studio)"


def workspace_of(request: Request) -> Workspace:
    return request.app.state.workspace


def caller(request: Request) -> Caller:
    """The request's signed-in user (a FastAPI dependency); 401 without a live session or token,
    403 for a change sent by a session without its CSRF token, and for an annotator outside
    the labelling API."""
    who = _signed_in(request)
    if not role_allows(who.user.role, "viewer") and not request.url.path.startswith(
        ANNOTATOR_PATHS
    ):
        raise AccessDenied(
            f"{who.name} is an annotator, who may only answer labelling tasks "
            f"({request.url.path} needs the viewer role). An admin can change that: "
            f"'kiln users set-role {who.name} viewer'.",
            code="studio.forbidden",
            field="role",
            role_needed="viewer",
        )
    return who


def _signed_in(request: Request) -> Caller:
    ws = workspace_of(request)
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        user = ws.users.token_user(authorization[7:].strip())
        return Caller(user, "token")
    session_token = request.cookies.get(SESSION_COOKIE)
    if not session_token:
        raise NotSignedIn(
            "Not signed in. Sign in on the Studio page, or send 'Authorization: Bearer TOKEN' "
            "with a token from 'kiln users token NAME'.",
            code="studio.not-signed-in",
        )
    user, csrf = ws.users.session_user(session_token)
    sent = request.headers.get(CSRF_HEADER, "").encode()
    if request.method not in _SAFE_METHODS and not hmac.compare_digest(sent, csrf.encode()):
        raise AccessDenied(
            f"This change came without the session's CSRF token (the {CSRF_HEADER} header). "
            "Reload the page and try again.",
            code="studio.csrf",
        )
    return Caller(user, "session", csrf)


_ROLE_WORDS = {
    "annotator": "an annotator",
    "viewer": "a viewer",
    "scientist": "a scientist",
    "approver": "an approver",
    "admin": "an admin",
}


def require(ws: Workspace, who: Caller, role: str, action: str, target: str = "") -> None:
    """Refuse (403, recorded in the audit log) unless ``who`` holds ``role`` or a more trusted
    one. ``action`` names what was asked, in the audit log's words (``model.approve``)."""
    if role_allows(who.user.role, role):
        return
    ws.audit.record(
        action,
        target,
        user=who.acting,
        outcome="refused",
        detail={"role": who.user.role, "role_needed": role},
    )
    raise AccessDenied(
        f"{action} needs the {role} role (or a more trusted one); {who.name} is "
        f"{_ROLE_WORDS[who.user.role]}. An admin can change that: "
        f"'kiln users set-role {who.name} {role}'.",
        code="studio.forbidden",
        field="role",
        role_needed=role,
    )


@contextmanager
def audited(
    ws: Workspace,
    who: Caller,
    action: str,
    target: str,
    *,
    reason: str = "",
    role: str = "scientist",
    detail: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Check ``role``, then run the block as ``who`` (records it writes name them) and record it in
    the audit log: ``ok``, or ``failed`` with the error's code (``internal`` for a bug). The
    block may add to the yielded dict what the audit event should also hold (the new record's
    id)."""
    require(ws, who, role, action, target)
    extra: dict[str, Any] = dict(detail or {})
    try:
        with acting_as(who.acting):
            yield extra
    except Exception as exc:
        # A bug (a 500) is recorded too: the log shows every change tried, not only the
        # refusals kiln foresaw.
        ws.audit.record(
            action,
            target,
            reason=reason,
            user=who.acting,
            outcome="failed",
            detail={**extra, "error": exc.code if isinstance(exc, KilnError) else "internal"},
        )
        raise
    ws.audit.record(action, target, reason=reason, user=who.acting, detail=extra)
