"""Domain errors: an operation refused, with a stable code and a clear message.

Services raise these and never think about HTTP; the API and web edges map each class to
a status (`review.api.errors.STATUS`) or a flashed message.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An expected refusal: `code` for programs, `message` for people."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    """The request is well-formed but its content is unacceptable (HTTP 422)."""


class BadArgument(DomainError):
    """A query argument (date, cursor, filter) cannot be used (HTTP 400)."""


class NotFound(DomainError):
    """No such object, or none the caller may see (HTTP 404)."""


class NotAllowed(DomainError):
    """The caller may not do this to this object (HTTP 403)."""


class Conflict(DomainError):
    """The object's state does not allow this now (HTTP 409)."""


class Unauthenticated(DomainError):
    """The credentials are unknown, revoked or belong to an inactive user (HTTP 401)."""


class RateLimited(DomainError):
    """Too many attempts; retry after `retry_after` seconds (HTTP 429)."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after
