"""The one exception tree of kiln.

Every error carries a message written for the user (what went wrong, the offending value, what to
do) and a short stable ``code`` that the CLI prints and the HTTP API returns::

    KilnError
    ├── ConfigError              settings, workspace, bad arguments
    │   └── WorkspaceNotFound
    ├── NotFound                 an unknown data set, job, model or endpoint
    ├── StateError               an action the record's state forbids (deploying a rejected model)
    ├── DataError                bad rows, unreadable files, wrong types in data
    │   └── RequestError         a bad invocation body (HTTP 4xx)
    ├── IntegrityError           an artifact whose content does not match its recorded digest
    └── JobFailed                a job ended Failed or Stopped
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "IntegrityError",
    "JobFailed",
    "KilnError",
    "NotFound",
    "RequestError",
    "StateError",
    "WorkspaceNotFound",
]


class KilnError(Exception):
    """Base of every error kiln raises on purpose; ``str(err)`` is the user-facing message."""

    code = "kiln.error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def to_dict(self) -> dict:
        body = {"error": self.code, "detail": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class ConfigError(KilnError):
    code = "config.invalid"


class WorkspaceNotFound(ConfigError):
    code = "workspace.not-found"


class NotFound(KilnError):
    code = "not-found"
    http_status = 404


class StateError(KilnError):
    code = "state.invalid"
    http_status = 409


class DataError(KilnError):
    code = "data.invalid"
    http_status = 422


class RequestError(DataError):
    code = "request.invalid"
    http_status = 422


class IntegrityError(KilnError):
    code = "artifact.integrity"
    http_status = 500


class JobFailed(KilnError):
    code = "job.failed"
