"""Login and logout."""

from __future__ import annotations

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
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from review.core.accounts import end_sessions, verify_password
from review.core.db import get_session
from review.core.errors import RateLimited
from review.core.models import User
from review.core.ratelimit import enforce, reset
from review.core.settings import settings

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

LOGIN_WINDOW = 300


class LoginForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class LogoutForm(FlaskForm):
    pass


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        bucket = f"login:{request.remote_addr}:{form.name.data.lower()}"
        try:
            enforce(bucket, settings().LOGIN_RATE_LIMIT, LOGIN_WINDOW)
        except RateLimited as exc:
            flash("Too many login attempts. Try again in a few minutes.", "error")
            return (render_template("auth/login.html", form=form), 429,
                    {"Retry-After": str(exc.retry_after)})
        db = get_session()
        user = db.scalar(select(User).where(User.name == form.name.data))
        if user is not None and user.active and verify_password(user, form.password.data):
            reset(bucket, LOGIN_WINDOW)
            session.clear()  # a fresh session at login: no fixation
            login_user(LoginUser(user))
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("pages.home")
            return redirect(target)
        flash("Unknown name or wrong password.", "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    if LogoutForm().validate_on_submit():
        end_sessions(get_session(), current_user.user.id)
        logout_user()
        session.clear()
    return redirect(url_for("auth.login"))
