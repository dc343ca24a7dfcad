"""Checking a sign-in: name and password, behind throttles no one can use to lock
a user out, with the same work whether or not the name exists.

Three fixed-window limits over LOGIN_WINDOW, all counted in Redis (the `limits`
library's fixed window, through review/core/rate_limiter.py):

- per (user, address), LOGIN_RATE_LIMIT: one address guessing one password;
- per address, LOGIN_ADDRESS_RATE_LIMIT: one address trying many names;
- per user, LOGIN_ACCOUNT_RATE_LIMIT: many addresses guessing one password.
  Only attempts the first two let through count here, so one address adds at
  most LOGIN_RATE_LIMIT per window, and settings refuse a ceiling not above that:
  a single address can never lock a user out.

A successful login takes its hits back (people behind one NAT sign in every
morning). Without Redis every attempt is refused (LimiterUnavailable): the
counts are what stops a guesser. The address is whatever the web edge says it
is (request.remote_addr, corrected by ProxyFix only when TRUSTED_PROXIES is set).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from review.core.accounts import verify_password
from review.core.errors import Unauthenticated
from review.core.models import User
from review.core.rate_limiter import Attempt, clear, count_attempt, per_window, take_back
from review.core.settings import settings

LOGIN_WINDOW = 300


@cache
def _dummy_hash() -> str:
    # Hashed like every stored password (werkzeug's default method), so checking a
    # password against it costs what checking a real user's does.
    return generate_password_hash(secrets.token_hex(16))


def _bucket(kind: str, *parts: str) -> tuple[str, str]:
    # Hashed: names and IPv6 addresses hold ':' and '/' (ambiguous joined), and a key's
    # length stays bounded whatever name is typed.
    digest = hashlib.sha256(json.dumps(parts).encode())
    return f"login-{kind}", digest.hexdigest()[:32]


def _refuse_if_over(attempt: Attempt) -> None:
    if not attempt.allowed:
        raise attempt.refused()


def authenticate(session: Session, name: str, password: str, address: str) -> User:
    """The active user `name` whose password is `password`. Raises RateLimited,
    LimiterUnavailable (Redis down) or Unauthenticated. Reads only."""
    cfg = settings()
    account = name.lower()
    pair_limit = per_window(cfg.LOGIN_RATE_LIMIT, LOGIN_WINDOW)
    pair_bucket = _bucket("pair", address, account)
    pair = count_attempt(pair_limit, *pair_bucket)
    per_address = count_attempt(per_window(cfg.LOGIN_ADDRESS_RATE_LIMIT, LOGIN_WINDOW),
                                *_bucket("address", address))
    _refuse_if_over(pair)
    _refuse_if_over(per_address)
    per_account = count_attempt(per_window(cfg.LOGIN_ACCOUNT_RATE_LIMIT, LOGIN_WINDOW),
                                *_bucket("account", account))
    _refuse_if_over(per_account)
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        check_password_hash(_dummy_hash(), password)  # the same work: no name probing
        ok = False
    else:
        ok = verify_password(user, password) and user.active
    if user is None or not ok:
        raise Unauthenticated("bad_credentials", "Unknown name or wrong password.")
    clear(pair_limit, *pair_bucket)
    take_back(per_address)
    take_back(per_account)
    return user

