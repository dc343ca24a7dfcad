"""The client's exceptions: one per kind of API error, mapped from the status
(the same for the sync and the async client)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from requests.structures import CaseInsensitiveDict


class ResponseLike(Protocol):
    """What both transports' responses (requests and httpx) have in common."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


class ReviewError(Exception):
    """An API error: `status` (None when no response came), `code`, `message`, `details`;
    `headers` of the response, looked up case-insensitively."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "error",
                 details: Any = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status or '-'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})


class AuthError(ReviewError):
    """401 (missing, unknown or revoked key) or 403 (wrong scope)."""


class NotFound(ReviewError):
    """404: no such item (or not one this key may see)."""


class Conflict(ReviewError):
    """409: e.g. an external_id replayed with a different body."""


class ValidationError(ReviewError):
    """400, 413, 415 or 422: the request is wrong; `details` lists the problems."""


class RateLimited(ReviewError):
    """429: `retry_after` seconds until the limit resets."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Unavailable(ReviewError):
    """503 (or a gateway error, or no connection at all): retry later."""


class WebhookVerificationError(ReviewError):
    """A webhook whose signature is missing, wrong or too old."""


ERRORS: dict[int, type[ReviewError]] = {
    400: ValidationError, 401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict,
    413: ValidationError, 415: ValidationError, 422: ValidationError, 429: RateLimited,
    502: Unavailable, 503: Unavailable, 504: Unavailable,
}


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (it may be an integer or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_from_response(resp: ResponseLike) -> ReviewError:
    """The exception for a non-2xx response, from its `{"error": {...}}` body."""
    try:
        body = resp.json()["error"]
        code, message, details = body["code"], body["message"], body.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = f"http_{resp.status_code}", resp.text[:200], None
    cls = ERRORS.get(resp.status_code, ReviewError)
    kwargs: dict[str, Any] = dict(status=resp.status_code, code=code, details=details,
                                  headers=resp.headers)
    if cls is RateLimited:
        kwargs["retry_after"] = retry_after_seconds(resp.headers.get("Retry-After"))
    return cls(message, **kwargs)
