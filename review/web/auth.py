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
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from review.core.accounts import verify_password
from review.core.db import get_session
from review.core.errors import RateLimited
from review.core.models import User
from review.core.ratelimit import enforce, reset
from review.core.settings import settings

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
            from review.web import LoginUser

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
        db = get_session()
        user = db.get(User, current_user.user.id)
        user.session_version += 1
        db.commit()
        logout_user()
        session.clear()
    return redirect(url_for("auth.login"))
