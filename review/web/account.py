"""A signed-in user's own account: change the password (the current one is required).

The change ends every other session (the session version moves on) and signs this one
in again with the new version, so the person who changed it stays signed in here.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from review.core.accounts import PASSWORD_MAX, PASSWORD_MIN, change_own_password
from review.core.db import get_session
from review.core.errors import DomainError, RateLimited
from review.core.rate_limiter import per_window, throttle
from review.core.settings import settings
from review.web.auth import LoginUser

bp = Blueprint("account", __name__, url_prefix="/account")

PASSWORD_WINDOW = 300  # seconds: the window of the current-password throttle


class PasswordForm(FlaskForm):
    current = PasswordField("Current password",
                            validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    new = PasswordField("New password",
                        validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)])
    confirm = PasswordField("New password again",
                            validators=[DataRequired(), EqualTo("new", "The passwords differ.")])


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    if not current_user.has_local_password:
        flash("You sign in through single sign-on: your password is your identity "
              "provider's.", "info")
        return redirect(url_for("pages.home"))
    form = PasswordForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        status = 400 if form.is_submitted() else 200
        return render_template("account/password.html", form=form), status
    user_id = current_user.user.id
    try:
        # The current password is a second factor here: guessing it is throttled
        # like a login, per user (whoever holds the session).
        throttle(per_window(settings().LOGIN_RATE_LIMIT, PASSWORD_WINDOW),
                 "password", str(user_id))
        user = change_own_password(get_session(), user_id, form.current.data, form.new.data)
    except RateLimited as exc:
        flash("Too many attempts. Try again in a few minutes.", "error")
        return (render_template("account/password.html", form=form), 429,
                {"Retry-After": str(exc.retry_after)})
    except DomainError as exc:
        flash(exc.message, "error")
        return render_template("account/password.html", form=form), 400
    session.clear()  # a new session for the new password: nothing carries over
    login_user(LoginUser(user))
    flash("Password changed. Every other session of yours has ended.", "info")
    return redirect(url_for("account.password"))
