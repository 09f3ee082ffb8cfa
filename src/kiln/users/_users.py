"""Users with roles, and what signs them in: a password (an scrypt hash), an API token for scripts,
a one-time login link, a browser session with its CSRF token. Secrets are random 256-bit strings
of which only a SHA-256 is stored."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from kiln.errors import AccessDenied, ConfigError, NotFound, NotSignedIn, StateError
from kiln.store import Page, UserRow, UserTokenRow, like_pattern, new_id, now, paged, who

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "ROLES",
    "NewToken",
    "SessionGrant",
    "User",
    "UserService",
    "check_role",
    "role_allows",
]

# From the least to the most trusted; each role may do what the roles before it may.
# annotator: answers the labelling tasks given to it, and sees nothing else in Studio (labelling
# is often done by people outside the team). viewer: reads everything. scientist: trains, runs
# AutoML, ingests data, deploys models to endpoints (approved ones, or any when the workspace
# does not require approval). approver: approves and rejects model versions too. admin: manages
# users, their roles and API keys.
ROLES = ("annotator", "viewer", "scientist", "approver", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
MIN_PASSWORD_LENGTH = 8
# scrypt as Python's hashlib has it: n=2^14, r=8 costs ~16 MiB and ~50 ms per guess, the
# parameters OWASP lists for scrypt; they are stored with each hash, so they can be raised later.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
LOGIN_LINK_SECONDS = 600.0
_TOKEN_PREFIX = "kilnu_"
# A token's last use is written at most this often (a session's idle limit slides with it).
_TOUCH_SECONDS = 60
_ARTICLE = {"annotator": "an", "viewer": "a", "scientist": "a", "approver": "an", "admin": "an"}


@dataclass(frozen=True)
class User:
    """A Studio user as stored, without the password hash."""

    id: str
    name: str
    role: str
    has_password: bool
    created_at: datetime
    created_by: str
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def can(self, role: str) -> bool:
        """Whether this user holds ``role`` or a more trusted one."""
        return role_allows(self.role, role)

    @classmethod
    def _from_row(cls, row: UserRow) -> User:
        return cls(
            id=row.id,
            name=row.name,
            role=row.role,
            has_password=row.password_hash is not None,
            created_at=row.created_at,
            created_by=row.created_by,
            disabled_at=row.disabled_at,
        )

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "has_password": self.has_password,
            "created_at": self.created_at.isoformat() + "Z",
            "created_by": self.created_by,
            "status": "active" if self.active else "disabled",
        }


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is shown this once and never stored."""

    id: str
    user: str
    purpose: str
    token: str
    expires_at: datetime | None


@dataclass(frozen=True)
class SessionGrant:
    """A signed-in browser: the user, the session's id (the cookie) and its CSRF token."""

    user: User
    session: str
    csrf: str


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may."""
    return ROLES.index(check_role(role)) >= ROLES.index(check_role(needed))


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(
            f"Unknown role {role!r}. A role is one of: {', '.join(ROLES)} (each may do what the "
            "ones before it may).",
            code="users.bad-role",
            field="role",
        )
    return role


@functools.cache
def _decoy_hash() -> str:
    """A hash of no one's password, checked when a sign-in names no user with a password."""
    return hash_password(secrets.token_urlsafe(16))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT, maxmem=64 * 2**20, dklen=32)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${key.hex()}"


def password_matches(password: str, stored: str) -> bool:
    _scheme, n, r, p, salt, key = stored.split("$")
    found = hashlib.scrypt(
        password.encode(),
        salt=bytes.fromhex(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=64 * 2**20,
        dklen=len(key) // 2,
    )
    return hmac.compare_digest(found.hex(), key)


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"A password needs at least {MIN_PASSWORD_LENGTH} characters. Choose a longer one "
            "(or sign in with a token: 'kiln users token NAME').",
            code="users.weak-password",
            field="password",
        )


class UserService:
    """``ws.users``: Studio's users, roles and sign-ins (see docs/studio.md)."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    # -- users ------------------------------------------------------------------------------

    def add(self, name: str, *, role: str, password: str | None = None) -> User:
        """Add a user with ``role``; ``password`` (8+ characters) lets them sign in with it,
        else they sign in with a token or a login link."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"A user name is 1 to 100 letters, digits, '_', '.', '@' or '-', starting with a "
                f"letter or digit. Got {name!r}.",
                code="users.bad-name",
                field="name",
            )
        check_role(role)
        if password is not None:
            _check_password(password)
        with self._ws.store.write() as session:
            if session.scalar(select(UserRow).where(UserRow.name == name)) is not None:
                raise StateError(
                    f"A user named {name!r} exists already. Change their role with 'kiln users "
                    f"set-role {name} ROLE'.",
                    code="users.exists",
                )
            row = UserRow(
                id=new_id("user"),
                name=name,
                role=role,
                password_hash=hash_password(password) if password is not None else None,
                created_at=now(),
                created_by=who(),
                disabled_at=None,
            )
            session.add(row)
            session.flush()
            return User._from_row(row)

    def _row(self, session, name: str) -> UserRow:
        row = session.scalar(select(UserRow).where(UserRow.name == name))
        if row is None:
            raise NotFound(
                f"No user named {str(name)[:100]!r}. See 'kiln users list'.",
                code="users.unknown-user",
            )
        return row

    def get(self, name: str) -> User:
        with self._ws.store.read() as session:
            return User._from_row(self._row(session, name))

    def list(self) -> list[User]:
        """Every user, by name."""
        with self._ws.store.read() as session:
            return [
                User._from_row(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))
            ]

    def page(
        self,
        *,
        q: str | None = None,
        role: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[User]:
        """A page of users, those whose name contains ``q`` or who hold ``role``."""
        query = select(UserRow)
        if q:
            query = query.where(UserRow.name.like(like_pattern(q), escape="\\"))
        if role:
            query = query.where(UserRow.role == check_role(role))
        columns = {"name": UserRow.name, "role": UserRow.role, "created_at": UserRow.created_at}
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
            return page.with_items([User._from_row(r) for r in page.items])

    def set_role(self, name: str, role: str) -> User:
        """Give ``name`` ``role``; the last active admin keeps theirs (``users.last-admin``)."""
        check_role(role)
        with self._ws.store.write() as session:
            row = self._row(session, name)
            if role != "admin":
                self._keep_an_admin(session, row, f"make {name} {_ARTICLE[role]} {role}")
            row.role = role
            session.flush()
            return User._from_row(row)

    def set_password(self, name: str, password: str) -> User:
        """Set a user's password; their browser sessions end (tokens stay)."""
        _check_password(password)
        with self._ws.store.write() as session:
            row = self._row(session, name)
            row.password_hash = hash_password(password)
            self._revoke(session, row.id, purposes=("session", "login"))
            session.flush()
            return User._from_row(row)

    def disable(self, name: str) -> User:
        """Disable a user: every session and token of theirs stops working at once."""
        with self._ws.store.write() as session:
            row = self._row(session, name)
            self._keep_an_admin(session, row, f"disable {name}")
            if row.disabled_at is None:
                row.disabled_at = now()
            self._revoke(session, row.id, purposes=("session", "login", "token"))
            session.flush()
            return User._from_row(row)

    def _keep_an_admin(self, session, row: UserRow, doing: str) -> None:
        """Refuse a change that would leave no active admin: nobody could manage users from
        Studio any more (the workspace's owner would have to use the CLI on its machine)."""
        if row.role != "admin" or row.disabled_at is not None:
            return
        others = session.scalar(
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.role == "admin", UserRow.disabled_at.is_(None), UserRow.id != row.id)
        )
        if not others:
            raise StateError(
                f"Cannot {doing}: {row.name} is the last active admin, and a workspace keeps "
                "one to manage its users. Make another user an admin first ('kiln users "
                f"set-role NAME admin').",
                code="users.last-admin",
            )

    def enable(self, name: str) -> User:
        with self._ws.store.write() as session:
            row = self._row(session, name)
            row.disabled_at = None
            session.flush()
            return User._from_row(row)

    def ensure_admin(self, name: str) -> User:
        """The admin user ``name``, added when missing (what ``kiln ui`` signs the workspace's
        own OS user in as)."""
        try:
            user = self.get(name)
        except NotFound:
            return self.add(name, role="admin")
        if not user.active:
            raise AccessDenied(
                f"User {name!r} is disabled. Enable them ('kiln users enable {name}') or sign "
                "in as another user.",
                code="studio.user-disabled",
            )
        return user

    # -- sign-in ----------------------------------------------------------------------------

    def _revoke(self, session, user_id: str, *, purposes: tuple[str, ...]) -> None:
        session.execute(
            update(UserTokenRow)
            .where(
                UserTokenRow.user_id == user_id,
                UserTokenRow.purpose.in_(purposes),
                UserTokenRow.revoked_at.is_(None),
            )
            .values(revoked_at=now())
            .execution_options(synchronize_session=False)
        )

    def _issue(
        self, session, row: UserRow, purpose: str, seconds: float | None, *, csrf: str | None = None
    ) -> NewToken:
        token_id = new_id("tok")
        secret = secrets.token_urlsafe(32)
        created = now()
        expires = None if seconds is None else created + timedelta(seconds=seconds)
        session.add(
            UserTokenRow(
                id=token_id,
                user_id=row.id,
                purpose=purpose,
                secret_hash=_digest(secret),
                created_at=created,
                expires_at=expires,
                csrf=csrf,
            )
        )
        return NewToken(token_id, row.name, purpose, f"{_TOKEN_PREFIX}{token_id}_{secret}", expires)

    def create_token(self, name: str, *, expires_seconds: float | None = None) -> NewToken:
        """An API token for ``name`` (``Authorization: Bearer kilnu_...``), shown this once."""
        with self._ws.store.write() as session:
            row = self._row(session, name)
            self._check_active(row)
            return self._issue(session, row, "token", expires_seconds)

    def login_link_token(self, name: str) -> NewToken:
        """A one-time token that signs ``name`` in within 10 minutes (``kiln ui`` prints it
        as a link)."""
        with self._ws.store.write() as session:
            row = self._row(session, name)
            self._check_active(row)
            return self._issue(session, row, "login", LOGIN_LINK_SECONDS)

    def revoke_token(self, token_id: str) -> None:
        with self._ws.store.write() as session:
            row = session.get(UserTokenRow, token_id)
            if row is None:
                raise NotFound(f"No token with id {token_id[:60]!r}.", code="users.unknown-token")
            row.revoked_at = row.revoked_at or now()

    @staticmethod
    def _check_active(row: UserRow) -> None:
        if row.disabled_at is not None:
            raise AccessDenied(
                f"User {row.name!r} is disabled; an admin can enable them ('kiln users enable "
                f"{row.name}').",
                code="studio.user-disabled",
            )

    def _token_row(self, session, token: str, purposes: tuple[str, ...]) -> UserTokenRow:
        """The live token row ``token`` names, or NotSignedIn saying why not."""
        token_id, _sep, secret = token.removeprefix(_TOKEN_PREFIX).partition("_")
        row = session.get(UserTokenRow, token_id) if token.startswith(_TOKEN_PREFIX) else None
        if (
            row is None
            or row.purpose not in purposes
            or not hmac.compare_digest(row.secret_hash, _digest(secret))
            or row.revoked_at is not None
        ):
            raise NotSignedIn(
                "Not signed in: the token or session is unknown or was revoked. Sign in again.",
                code="studio.not-signed-in",
            )
        if row.expires_at is not None and row.expires_at <= now():
            raise NotSignedIn(
                "Your session has expired. Sign in again; what you were doing was not saved.",
                code="studio.session-expired",
            )
        return row

    def _start_session(self, session, row: UserRow) -> SessionGrant:
        self._check_active(row)
        csrf = secrets.token_urlsafe(32)
        issued = self._issue(
            session, row, "session", self._ws.settings.studio_session_idle_seconds, csrf=csrf
        )
        return SessionGrant(User._from_row(row), issued.token, csrf)

    def sign_in(self, name: str, password: str) -> SessionGrant:
        """A browser session for ``name`` when ``password`` is theirs."""
        with self._ws.store.write() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            stored = row.password_hash if row is not None else None
            # An unknown name (or one without a password) costs the same scrypt as a wrong
            # password: the answer's time does not tell which names exist.
            matches = password_matches(str(password), stored or _decoy_hash())
            if stored is None or not matches:
                raise NotSignedIn("Wrong user name or password.", code="studio.bad-credentials")
            return self._start_session(session, row)

    def sign_in_with_token(self, token: str) -> SessionGrant:
        """A browser session from an API token or a one-time login link (used up)."""
        with self._ws.store.write() as session:
            token_row = self._token_row(session, token, ("token", "login"))
            if token_row.purpose == "login":
                token_row.revoked_at = now()
            return self._start_session(session, session.get(UserRow, token_row.user_id))

    def session_user(self, session_token: str) -> tuple[User, str]:
        """The user of a live browser session and its CSRF token; the session's idle time
        starts again. NotSignedIn when it is unknown, ended or expired."""
        with self._ws.store.read() as session:
            row = self._token_row(session, session_token, ("session",))
            user = session.get(UserRow, row.user_id)
            self._check_active(user)
            found, csrf, token_id, last = (
                User._from_row(user),
                row.csrf or "",
                row.id,
                row.last_used_at,
            )
        self._touch(token_id, last, slide=True)
        return found, csrf

    def token_user(self, token: str) -> User:
        """The user an API token belongs to; NotSignedIn when it is unknown, revoked or
        expired."""
        with self._ws.store.read() as session:
            row = self._token_row(session, token, ("token",))
            user = session.get(UserRow, row.user_id)
            self._check_active(user)
            found, token_id, last = User._from_row(user), row.id, row.last_used_at
        self._touch(token_id, last, slide=False)
        return found

    def _touch(self, token_id: str, last_used: datetime | None, *, slide: bool) -> None:
        """Note a token's use (and slide a session's idle limit), at most once a minute: every
        request is checked by a read, and only one a minute per token waits for the store's
        write lock (a request while a job writes, or under load, would otherwise queue)."""
        used = now()
        if last_used is not None and used - last_used <= timedelta(seconds=_TOUCH_SECONDS):
            return
        with self._ws.store.write() as session:
            row = session.get(UserTokenRow, token_id)
            if row is None or row.revoked_at is not None:
                return
            row.last_used_at = used
            if slide:
                row.expires_at = used + timedelta(
                    seconds=self._ws.settings.studio_session_idle_seconds
                )

    def sign_out(self, session_token: str) -> None:
        with self._ws.store.write() as session:
            try:
                row = self._token_row(session, session_token, ("session",))
            except NotSignedIn:
                return
            row.revoked_at = now()
