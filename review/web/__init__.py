"""The browser side: login, CSRF, security headers and the pages."""

from __future__ import annotations

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

from review.api import bp as api_bp
from review.web import (
    account,
    admin,
    auth,
    dashboard,
    docs,
    health,
    manage,  # noqa: F401 - adds the manage page's routes to queue.bp before it registers
    metrics,
    pages,
    queue,
    sso,
    webhooks,
)
from review.web.auth import login_manager
from review.web.display import init_display
from review.web.error_pages import init_error_pages

csrf = CSRFProtect()

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Everything is served from here: no CDN, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
}


def init_web(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)

    for module in (auth, sso, pages, queue, webhooks, admin, account, dashboard, metrics, docs,
                   health):
        app.register_blueprint(module.bp)
    # The JSON API authenticates with bearer keys, not cookies: CSRF does not apply.
    csrf.exempt(api_bp)
    init_display(app)
    init_error_pages(app)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response
