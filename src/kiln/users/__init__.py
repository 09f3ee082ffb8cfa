"""Studio's users (``ws.users``): names, roles, passwords, tokens and browser sessions; and the
audit log (``ws.audit``) of every state change made through Studio."""

from kiln.users._audit import AuditEvent, AuditLog
from kiln.users._users import (
    ROLES,
    NewToken,
    SessionGrant,
    User,
    UserService,
    check_role,
    role_allows,
)

__all__ = [
    "ROLES",
    "AuditEvent",
    "AuditLog",
    "NewToken",
    "SessionGrant",
    "User",
    "UserService",
    "check_role",
    "role_allows",
]
