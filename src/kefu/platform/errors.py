"""Domain errors, and the one place they become HTTP responses.

Services raise these; they never build responses. The message is an English msgid that
is translated into the request's language when shown. ``kefu.platform.web`` turns them
into RFC 9457 problem details for the API and friendly pages for the UI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from kefu.platform.i18n import N_


class DomainError(Exception):
    """Base of every error a user may see; never carries a stack trace to them."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = N_("Bad request")

    def __init__(self, message: str, *, params: Mapping[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = dict(params or {})
        self.extra = extra


class InvalidInput(DomainError):
    status = 422
    code = "invalid-input"
    title = N_("Invalid input")

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, params=params)
        self.errors = errors or ([{"field": field, "message": message}] if field else [])


class NotAuthenticated(DomainError):
    status = 401
    code = "not-authenticated"
    title = N_("Login required")


class PermissionDenied(DomainError):
    status = 403
    code = "permission-denied"
    title = N_("Permission denied")


class NotFound(DomainError):
    status = 404
    code = "not-found"
    title = N_("Not found")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = N_("Conflict")


class CsrfFailed(DomainError):
    status = 403
    code = "csrf-failed"
    title = N_("Security check failed")


class TooLarge(DomainError):
    status = 413
    code = "too-large"
    title = N_("Request too large")


class RateLimited(DomainError):
    status = 429
    code = "rate-limited"
    title = N_("Too many attempts")

    def __init__(self, message: str, *, retry_after: int, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, params=params)
        self.retry_after = retry_after


class Unavailable(DomainError):
    status = 503
    code = "unavailable"
    title = N_("Service unavailable")

    def __init__(
        self, message: str, *, retry_after: int | None = None, params: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message, params=params)
        self.retry_after = retry_after


OVERLOADED = N_("The server is busy. Try again in a moment.")
OVERLOAD_RETRY_AFTER = 5  # seconds


def overloaded(exc: BaseException) -> Unavailable | None:
    """The busy answer when ``exc`` means "the database is saturated", not a defect.

    Under a load the server cannot carry, a request can wait longer than allowed for the
    database: for a pooled connection (SQLAlchemy's ``TimeoutError``) or, on SQLite, for
    another process's write lock ("database is locked" after the lock timeout). The client
    should retry later; nothing was written.
    """
    if isinstance(exc, PoolTimeout) or (
        isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
    ):
        return Unavailable(OVERLOADED, retry_after=OVERLOAD_RETRY_AFTER)
    return None


# Titles for statuses raised by the framework itself (unknown route, wrong method…).
HTTP_TITLES: dict[int, str] = {
    400: N_("Bad request"),
    401: N_("Login required"),
    403: N_("Permission denied"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Request too large"),
    415: N_("Unsupported media type"),
    422: N_("Invalid input"),
    429: N_("Too many attempts"),
    500: N_("Internal error"),
    503: N_("Service unavailable"),
}
