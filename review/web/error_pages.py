"""App-styled error pages (400, 403, 404, 405, 500 ...) for people in a browser.

review/api/errors.py answers every error: JSON for the API (and for clients that ask
for JSON), and for a browser it let Werkzeug's bare page through. This module wraps
those handlers: when the answer is for a browser, it renders templates/errors/error.html
instead, with the app's navigation and a way back. JSON answers are passed through
untouched, so the API keeps its `{"error": {"code", "message"}}` shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from review.api.errors import wants_json

TITLES = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: ("Not allowed", "Your account may not open this page. If you need it, ask an "
                         "admin or a supervisor of the queue."),
    404: ("Not found", "There is nothing here: the address may be mistyped, or the item "
                       "or queue may have been removed, or you are not a member of its queue."),
    405: ("Not allowed here", "This address does not take that kind of request."),
    413: ("Too large", "What you sent is larger than the limit."),
    429: ("Slow down", "Too many requests; wait a moment and try again."),
    500: ("Something went wrong", "An unexpected error happened; it has been logged. "
                                  "Try again, and tell an admin if it keeps happening."),
}


def _page(status: int, detail: str | None = None) -> tuple[str, int]:
    title, text = TITLES.get(status, ("Error", "The request could not be completed."))
    # Only a page of this site is offered as "Go back": never a link elsewhere.
    referrer = request.referrer or ""
    back = referrer if referrer.startswith(request.host_url) and referrer != request.url \
        else None
    return render_template("errors/error.html", status=status, title=title, text=text,
                           detail=detail, back=back), status


def _previous(app: Flask, cls: type[BaseException]) -> Callable[[Any], Any]:
    return app.error_handler_spec[None][None][cls]


def init_error_pages(app: Flask) -> None:
    """Wrap the API's HTTPException and Exception handlers with HTML pages."""
    http_handler = _previous(app, HTTPException)
    crash_handler = _previous(app, Exception)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202 - a page or the API's JSON
        answer = http_handler(exc)
        if wants_json() or not isinstance(answer, HTTPException) or (exc.code or 500) < 400:
            return answer
        # Our own messages (abort(403, "...")) say more than the default text.
        detail = exc.description if exc.description != type(exc).description else None
        body, status = _page(exc.code or 500, detail)
        allowed = getattr(exc, "valid_methods", None)
        return body, status, {"Allow": ", ".join(allowed)} if allowed else {}

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202 - a page or the API's answer
        answer = crash_handler(exc)
        status = answer[1] if isinstance(answer, tuple) else getattr(answer, "status_code", 0)
        if wants_json() or status != 500:
            return answer
        try:
            return _page(500)
        except Exception:  # noqa: BLE001 - the page itself failed: keep the plain answer
            return answer
