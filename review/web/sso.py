"""Sign-in with an OpenID Connect provider (docs/sso.md): the two browser routes.

`/login/sso` sends the browser to the provider, keeping state, nonce and the PKCE
verifier in its session; `/login/sso/callback` takes them out (so a replayed callback
finds nothing), lets review/core/oidc.py check the answer and find or create the user,
then logs in like the password path does. Every refusal is the login page with the
reason; nothing the provider or a browser sends gives a 500.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, session, url_for
from flask.blueprints import BlueprintSetupState
from flask_login import login_user
from werkzeug.wrappers import Response

from review.core.db import get_session
from review.core.errors import Unauthenticated
from review.core.oidc import begin_sign_in, check_settings, finish_sign_in
from review.core.settings import settings
from review.web.auth import LoginUser, refuse_login, safe_next

bp = Blueprint("sso", __name__)

PENDING = "sso_pending"  # the session key of a sign-in under way


@bp.record_once
def _check_settings(state: BlueprintSetupState) -> None:
    # At start, not at the first sign-in: a malformed OIDC_ROLE_MAP stops the service.
    check_settings(settings(state.app))


def _refused(exc: Unauthenticated) -> tuple[str, int]:
    status = 503 if exc.code == "sso_unavailable" else 401
    return refuse_login(exc.message, status)


@bp.get("/login/sso")
def start() -> Response | tuple[str, int]:
    cfg = settings()
    if not cfg.OIDC_ISSUER:
        abort(404)
    try:
        url, pending = begin_sign_in(cfg, url_for("sso.callback", _external=True))
    except Unauthenticated as exc:
        return _refused(exc)
    pending["next"] = safe_next(request.args.get("next", "")) or ""
    session[PENDING] = pending
    return redirect(url)


@bp.get("/login/sso/callback")
def callback() -> Response | tuple[str, int]:
    cfg = settings()
    if not cfg.OIDC_ISSUER:
        abort(404)
    pending = session.pop(PENDING, None)
    try:
        user = finish_sign_in(get_session(), cfg, pending, request.args)
    except Unauthenticated as exc:
        return _refused(exc)
    target = safe_next(pending.get("next", "")) or url_for("pages.home")
    session.clear()  # a fresh session at login: no fixation
    login_user(LoginUser(user))
    return redirect(target)
