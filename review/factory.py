"""The application factory: builds the app and nothing else."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from review.api import bp as api_bp
from review.api.errors import register_error_handlers
from review.core.db import init_db
from review.core.logs import configure_logging
from review.core.paths import STATIC_DIR, TEMPLATES_DIR
from review.core.rate_limiter import init_rate_limits
from review.core.settings import Settings, install_settings
from review.core.tracing import init_tracing
from review.web import init_web
from review.web.request_guard import init_request_guard


def create_app(config: Settings | None = None) -> Flask:
    config = config or Settings.from_env()
    app = Flask("review", template_folder=str(TEMPLATES_DIR), static_folder=str(STATIC_DIR))
    app.config.from_mapping(config.flask_mapping())
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=config.SESSION_COOKIE_SECURE,
        JSON_SORT_KEYS=False,
    )
    install_settings(app, config)
    configure_logging(app)  # first: every later hook and log line has the request id
    init_db(app)
    register_error_handlers(app)
    init_rate_limits(app)
    init_request_guard(app)
    init_web(app)
    app.register_blueprint(api_bp)
    init_tracing(app)  # OpenTelemetry, only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    if config.TRUSTED_PROXIES:
        # Behind N reverse proxies the peer is the nearest proxy: take the client's
        # address (rate limits, logs) and scheme from the last N X-Forwarded-For/-Proto
        # entries those proxies appended. Never by default: a client could forge them.
        hops = config.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app
