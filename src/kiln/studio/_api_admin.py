"""Studio API: signing in and out, users and their roles (admins), and the audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from kiln.errors import AccessDenied, ConfigError, NotSignedIn
from kiln.studio._auth import SESSION_COOKIE, Caller, audited, caller, require, workspace_of
from kiln.studio._http import json_response
from kiln.users import SessionGrant

router = APIRouter(tags=["session and users"])
Signed = Annotated[Caller, Depends(caller)]


class SignIn(BaseModel):
    name: str | None = Field(default=None, description="User name (with password).")
    password: str | None = Field(default=None, description="The user's password.")
    token: str | None = Field(default=None, description="Or an API token (kilnu_...).")


class NewUser(BaseModel):
    name: str
    role: Literal["annotator", "viewer", "scientist", "approver", "admin"]
    password: str | None = None


class UserChange(BaseModel):
    role: Literal["annotator", "viewer", "scientist", "approver", "admin"] | None = None
    password: str | None = None
    disabled: bool | None = None
    reason: str = ""


def _session_body(grant: SessionGrant) -> dict:
    return {"user": grant.user.to_dict(), "csrf": grant.csrf}


def _set_cookie(response: Response, request: Request, grant: SessionGrant) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        grant.session,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.get("/session", summary="The signed-in user and the session's CSRF token")
def session_info(request: Request) -> dict:
    """``user`` is null when nobody is signed in (the page then shows the sign-in form): a
    200, so loading the page logs no failed request."""
    try:
        who = caller(request)
    except NotSignedIn as exc:
        return {"user": None, "csrf": "", "via": None, "reason": exc.code}
    return {"user": who.user.to_dict(), "csrf": who.csrf, "via": who.via}


@router.post("/session", summary="Sign in with a name and password, or a token")
def sign_in(body: SignIn, request: Request) -> Response:
    ws = workspace_of(request)
    if body.token:
        grant = ws.users.sign_in_with_token(body.token)
    elif body.name and body.password is not None:
        try:
            grant = ws.users.sign_in(body.name, body.password)
        except (NotSignedIn, AccessDenied) as exc:
            # A wrong password is recorded: the audit log shows guessing at a user's password.
            ws.audit.record(
                "session.sign-in",
                body.name[:100],
                user="nobody (studio)",
                outcome="refused",
                detail={"error": exc.code},
            )
            raise
    else:
        raise ConfigError(
            "Sign in with 'name' and 'password', or with 'token'.",
            code="studio.bad-sign-in",
        )
    response = json_response(_session_body(grant))
    _set_cookie(response, request, grant)
    ws.audit.record("session.sign-in", grant.user.name, user=f"{grant.user.name} (studio)")
    return response


@router.get("/session/link", summary="Sign in with a one-time login link", include_in_schema=True)
def sign_in_link(token: str, request: Request) -> Response:
    ws = workspace_of(request)
    grant = ws.users.sign_in_with_token(token)
    response = RedirectResponse("/", status_code=303)
    _set_cookie(response, request, grant)
    ws.audit.record("session.sign-in", grant.user.name, user=f"{grant.user.name} (studio)")
    return response


@router.delete("/session", summary="Sign out")
def sign_out(who: Signed, request: Request) -> Response:
    ws = workspace_of(request)
    if who.via == "session":
        ws.users.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = json_response({"signed_out": who.name})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/users", summary="Users (admins)")
def list_users(
    who: Signed,
    request: Request,
    q: str | None = None,
    role: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    require(ws, who, "admin", "users.list")
    return ws.users.page(q=q, role=role, sort=sort, limit=limit, offset=offset).to_dict()


@router.post("/users", summary="Add a user (admins)", status_code=201)
def add_user(body: NewUser, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    with audited(ws, who, "users.add", body.name, role="admin", detail={"role": body.role}):
        user = ws.users.add(body.name, role=body.role, password=body.password)
    return user.to_dict()


@router.patch("/users/{name}", summary="Change a user's role, password or status (admins)")
def change_user(name: str, body: UserChange, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    changes = body.model_dump(exclude_none=True, exclude={"reason", "password"})
    if body.password is not None:
        changes["password"] = "changed"
    with audited(ws, who, "users.change", name, reason=body.reason, role="admin", detail=changes):
        user = ws.users.get(name)
        if body.role is not None:
            user = ws.users.set_role(name, body.role)
        if body.password is not None:
            user = ws.users.set_password(name, body.password)
        if body.disabled is True:
            user = ws.users.disable(name)
        elif body.disabled is False:
            user = ws.users.enable(name)
    return user.to_dict()


@router.post("/users/{name}/tokens", summary="A new API token (admins, or the user for themself)")
def new_token(name: str, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    role = "viewer" if name == who.name else "admin"
    with audited(ws, who, "users.token", name, role=role) as extra:
        token = ws.users.create_token(name)
        extra["token_id"] = token.id
    return {"id": token.id, "user": token.user, "token": token.token}


@router.get("/audit", summary="The audit log: every change made through Studio, newest first")
def audit_log(
    who: Signed,
    request: Request,
    q: str | None = None,
    user: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict:
    ws = workspace_of(request)
    return ws.audit.page(
        q=q, user=user, action=action, outcome=outcome, sort=sort, limit=limit, offset=offset
    ).to_dict()


class NewKey(BaseModel):
    endpoint: str | None = Field(default=None, description="The one endpoint it may call.")
    name: str | None = Field(default=None, description="What the key is for.")
    rate_limit: float | None = Field(default=None, description="Requests per second, at most.")


@router.get("/keys", summary="API keys of the serving API (admins): never their secrets")
def list_keys(who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    require(ws, who, "admin", "keys.list")
    keys = ws.keys.list()
    return {"items": [key.to_dict() for key in keys], "total": len(keys)}


@router.post("/keys", summary="Create an API key (admins); the key is in this answer only")
def create_key(body: NewKey, who: Signed, request: Request) -> Response:
    ws = workspace_of(request)
    target = body.endpoint or "(every endpoint)"
    with audited(ws, who, "keys.create", target, role="admin") as extra:
        key = ws.keys.create(endpoint=body.endpoint, name=body.name, rate_limit=body.rate_limit)
        extra["key_id"] = key.id
    return json_response({**key.to_dict(), "key": key.key}, 201)


@router.post("/keys/{key_id}/revoke", summary="Revoke an API key (admins)")
def revoke_key(key_id: str, who: Signed, request: Request) -> dict:
    ws = workspace_of(request)
    with audited(ws, who, "keys.revoke", key_id, role="admin"):
        key = ws.keys.revoke(key_id)
    return key.to_dict()
