"""One JSON error shape for every 4xx/5xx the API answers, and the HTTP status of each
domain error.

`{"error": {"code": ..., "message": ..., "details": ...}}` — clients switch on
`code`, humans read `message`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask_limiter import RateLimitExceeded
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from review.core.errors import (
    BadArgument,
    Conflict,
    DomainError,
    InvalidInput,
    NotAllowed,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from review.core.rate_limiter import refusal
from review.core.settings import settings

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


STATUS: dict[type[DomainError], int] = {
    BadArgument: 400,
    Unauthenticated: 401,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    RateLimited: 429,
}


def status_of(exc: DomainError) -> int:
    return STATUS.get(type(exc), 400)


def error_body(exc: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    return body


def domain_error_response(exc: DomainError) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return error_response(status_of(exc), exc.code, exc.message, exc.details, headers)


def batch_entry(result: dict[str, Any]) -> dict[str, Any]:
    """A batch result as the API answers it: a refused entry gets its status and JSON error."""
    exc = result.get("error")
    if not isinstance(exc, DomainError):
        return result
    return {**result, "status_code": status_of(exc), "error": error_body(exc)}


class ApiError(Exception):
    """An expected failure with a status, a stable code and a clear message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    resp = jsonify({"error": body})
    resp.status_code = status
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics" or (
        request.accept_mimetypes.best == "application/json"
    )


def _is_db_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    app.register_error_handler(DomainError, domain_error_response)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded) -> Response:
        # A route limit (Flask-Limiter): the same 429 and Retry-After as RateLimited.
        return domain_error_response(refusal(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202 - HTML or JSON
        status = exc.code or 500
        if not wants_json():
            return exc
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        message = exc.description or exc.name
        if status == 413:
            message = "Request body is larger than the limit of "
            message += f"{settings(app).MAX_CONTENT_LENGTH} bytes."
        return error_response(status, _DEFAULT_CODES.get(status, "error"), message, None, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        if _is_db_unavailable(exc):
            app.logger.warning("database unavailable: %s", exc.__class__.__name__)
            _rollback_quietly()
            return error_response(
                503,
                "unavailable",
                "The database is unavailable; nothing was stored. Retry shortly.",
                headers={"Retry-After": "5"},
            )
        app.logger.exception("unhandled error")
        _rollback_quietly()
        if wants_json():
            return error_response(500, "internal_error", "Unexpected error; it has been logged.")
        return "Internal error", 500


def _rollback_quietly() -> None:
    session = g.get("db_session")
    if session is not None:
        try:
            session.rollback()
        except Exception:  # noqa: BLE001 - connection may be gone already
            pass
