"""Login and logout.

The name and password are checked by review/core/signin.py (throttles that
fail closed, equal work for unknown names); this edge adds where to go next:
only a plain path of this site, parsed strictly (see `safe_next`). With
LOCAL_PASSWORDS off the page offers only single sign-on (review/web/sso.py) and
a posted password is refused unchecked.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from review.core.accounts import end_sessions
from review.core.db import get_session
from review.core.errors import RateLimited, Unauthenticated
from review.core.models import User
from review.core.rate_limiter import LimiterUnavailable
from review.core.settings import settings
from review.core.signin import authenticate

login_manager = LoginManager()


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

    @property
    def has_local_password(self) -> bool:
        """Signs in with a password here (not through the identity provider), so changing
        it on the account page means something."""
        return settings().LOCAL_PASSWORDS and self.user.oidc_subject is None

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


bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class LogoutForm(FlaskForm):
    pass


def _unsafe(path: str) -> bool:
    # Browsers drop tabs and newlines anywhere in a URL and read "\\" as "/", so
    # "/\t/evil" and "/\\evil" both mean "//evil": another site.
    return (path.startswith("//") or "\\" in path
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path))


def safe_next(target: str) -> str | None:
    """`target` if it is a path of this site, else None. Strict: printable ASCII with
    no space, no scheme or host, a single leading "/", no backslash or control
    character, and the same once percent-decoded (a proxy or a redirect further
    on may decode it)."""
    if not target or len(target) > 2000 or not target.isascii() or not target.isprintable() \
            or " " in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if _unsafe(target) or _unsafe(unquote(parts.path)):
        return None
    return target


def render_login(form: LoginForm | None = None) -> str:
    """The login page: the password form unless LOCAL_PASSWORDS is off, and the
    single sign-on button when a provider is configured."""
    cfg = settings()
    return render_template("auth/login.html", form=form or LoginForm(),
                           local_passwords=cfg.LOCAL_PASSWORDS,
                           sso_label=cfg.OIDC_LABEL if cfg.OIDC_ISSUER else "")


def refuse_login(message: str, status: int) -> tuple[str, int]:
    """The login page again, saying why the sign-in was refused."""
    flash(message, "error")
    return render_login(), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST" and not settings().LOCAL_PASSWORDS:
        return refuse_login("Password sign-in is turned off here: use single sign-on.", 403)
    form = LoginForm()
    if not form.validate_on_submit():
        return render_login(form)
    try:
        user = authenticate(get_session(), form.name.data, form.password.data,
                            request.remote_addr or "unknown")
    except RateLimited as exc:
        flash("Too many login attempts. Try again in a few minutes.", "error")
        return (render_login(form), 429, {"Retry-After": str(exc.retry_after)})
    except LimiterUnavailable as exc:
        # Fail closed: without the attempt counts nothing would slow a password guesser.
        flash("Sign-in is paused: the login rate limiter (Redis) is unavailable. "
              "Try again in a minute; pages you are signed in to keep working.", "error")
        return (render_login(form), 503, {"Retry-After": str(exc.retry_after)})
    except Unauthenticated as exc:
        flash(exc.message, "error")
        return render_login(form), 401
    session.clear()  # a fresh session at login: no fixation
    login_user(LoginUser(user))
    return redirect(safe_next(request.args.get("next", "")) or url_for("pages.home"))


@bp.post("/logout")
@login_required
def logout():
    if LogoutForm().validate_on_submit():
        end_sessions(get_session(), current_user.user.id)
        logout_user()
        session.clear()
    return redirect(url_for("auth.login"))
