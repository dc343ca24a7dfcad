"""The application factory: builds the app and nothing else."""

from __future__ import annotations

from flask import Flask

from review.config import Config


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    app = Flask(__name__, template_folder="templates", static_folder="review/static")
    app.config.from_mapping(config.flask_mapping())
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=config.SESSION_COOKIE_SECURE,
        JSON_SORT_KEYS=False,
    )
    from review.logging import configure_logging

    configure_logging(app)  # first: every later hook and log line has the request id

    from review.db import init_db
    from review.errors import register_error_handlers
    from review.request_guard import init_request_guard
    from review.web import init_web

    init_db(app)
    register_error_handlers(app)
    init_request_guard(app)
    init_web(app)

    from review.api import bp as api_bp

    app.register_blueprint(api_bp)

    from review.cli import register_commands

    register_commands(app)
    return app
