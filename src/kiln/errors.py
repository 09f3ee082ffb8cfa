"""The one exception tree of kiln.

Every error carries a message written for the user (what went wrong, the offending value, what to
do) and a short stable ``code`` that the CLI prints and the HTTP API returns::

    KilnError
    ├── ConfigError              settings, workspace, bad arguments
    │   ├── WorkspaceNotFound
    │   └── RecipeError          a recipe that cannot be read, planned or fit (recipe.*)
    ├── NotFound                 an unknown data set, job, model or endpoint
    ├── StateError               an action the record's state forbids (deploying a rejected model)
    ├── DataError                bad rows, unreadable files, wrong types in data
    │   └── RequestError         a bad invocation body (HTTP 4xx)
    ├── NotSignedIn              Studio: no session or token, or an expired one (HTTP 401)
    ├── AccessDenied             Studio: the user's role may not do that (HTTP 403)
    ├── IntegrityError           an artifact whose content does not match its recorded digest
    └── JobFailed                a job crashed, was stopped, or failed without a KilnError

An error raised inside a job (which runs in its own process) reaches the caller as the same class,
code and message, with ``job_id`` set to the job's id; errors raised in the caller's own process
have ``job_id = None``.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "ConfigError",
    "DataError",
    "IntegrityError",
    "JobFailed",
    "KilnError",
    "NotFound",
    "NotSignedIn",
    "RecipeError",
    "RequestError",
    "StateError",
    "WorkspaceNotFound",
]


class KilnError(Exception):
    """Base of every error kiln raises on purpose; ``str(err)`` is the user-facing message."""

    code = "kiln.error"
    http_status = 400
    # The job the error was raised in, when it reached the caller from a job's process.
    job_id: str | None = None

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


class RecipeError(ConfigError):
    """A recipe the user wrote that does not fit: its file, its steps, or the columns and values
    they meet. A configuration error even when found in the data, since the fix is in the recipe."""

    code = "recipe.invalid"


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


class NotSignedIn(KilnError):
    code = "studio.not-signed-in"
    http_status = 401


class AccessDenied(KilnError):
    code = "studio.forbidden"
    http_status = 403

    def __init__(self, message: str, *, role_needed: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.role_needed = role_needed

    def to_dict(self) -> dict:
        body = super().to_dict()
        if self.role_needed is not None:
            body["role_needed"] = self.role_needed
        return body


class IntegrityError(KilnError):
    code = "artifact.integrity"
    http_status = 500


class JobFailed(KilnError):
    code = "job.failed"


def public_class(error: KilnError) -> type[KilnError]:
    """The nearest class of ``error`` that this module defines, to record and rebuild it by name."""
    for cls in type(error).__mro__:
        if cls.__module__ == __name__ and issubclass(cls, KilnError):
            return cls
    return KilnError


def class_named(name: str | None) -> type[KilnError] | None:
    """The class of this module called ``name`` (as recorded by :func:`public_class`), or None."""
    cls = globals().get(name or "")
    return cls if isinstance(cls, type) and issubclass(cls, KilnError) else None
