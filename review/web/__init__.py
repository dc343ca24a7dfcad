"""The browser side: login, CSRF, security headers and the pages."""

from __future__ import annotations

from flask import Flask, Response
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from review.core.db import get_session
from review.core.models import User

login_manager = LoginManager()
csrf = CSRFProtect()

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Everything is served from here: no CDN, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
}


class LoginUser:
    """Flask-Login's view of a user; the id carries the session version so a
    logout (which bumps the version) kills every copy of the old cookie."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.is_authenticated = True
        self.is_active = user.active
        self.is_anonymous = False

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version}"

    def __getattr__(self, name: str):  # noqa: ANN204 - delegate to the model
        return getattr(self.user, name)


@login_manager.user_loader
def _load_user(user_id: str) -> LoginUser | None:
    try:
        raw_id, raw_version = user_id.split(":", 1)
        user = get_session().get(User, int(raw_id))
    except ValueError:
        return None
    if user is None or not user.active or str(user.session_version) != raw_version:
        return None
    return LoginUser(user)


def init_web(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)

    from review.web import auth, pages, queue, webhooks

    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(queue.bp)
    app.register_blueprint(webhooks.bp)

    from review.web import dashboard, metrics

    app.register_blueprint(dashboard.bp)
    app.register_blueprint(metrics.bp)

    from review.web import docs, health

    app.register_blueprint(docs.bp)
    app.register_blueprint(health.bp)

    # The JSON API authenticates with bearer keys, not cookies: CSRF does not apply.
    from review.api import bp as api_bp

    csrf.exempt(api_bp)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response
