"""Domain errors, and the one place they become HTTP responses.

Services raise these; they never build responses. The message is an English msgid that
is translated into the request's language when shown. ``kefu.platform.web`` turns them
into RFC 9457 problem details for the API and friendly pages for the UI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a user may see; never carries a stack trace to them."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, message: str, *, params: Mapping[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = dict(params or {})
        self.extra = extra


class InvalidInput(DomainError):
    status = 422
    code = "invalid-input"
    title = "Invalid input"

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
    title = "Login required"


class PermissionDenied(DomainError):
    status = 403
    code = "permission-denied"
    title = "Permission denied"


class NotFound(DomainError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class CsrfFailed(DomainError):
    status = 403
    code = "csrf-failed"
    title = "Security check failed"


class TooLarge(DomainError):
    status = 413
    code = "too-large"
    title = "Request too large"


class RateLimited(DomainError):
    status = 429
    code = "rate-limited"
    title = "Too many attempts"

    def __init__(self, message: str, *, retry_after: int, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, params=params)
        self.retry_after = retry_after


class Unavailable(DomainError):
    status = 503
    code = "unavailable"
    title = "Service unavailable"


# Titles for statuses raised by the framework itself (unknown route, wrong method…).
HTTP_TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Login required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many attempts",
    500: "Internal error",
    503: "Service unavailable",
}
