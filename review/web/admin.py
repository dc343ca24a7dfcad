"""Admin pages over accounts: users (create, deactivate, activate, role, password),
queue memberships (add, set tags, remove), API keys (create, revoke, rotate; a new raw
key is shown once, on the answer to the form, never stored or put in the session) and
the queue policies in plain words (read-only: policies are code, `review queues apply`).

Every form is a Flask-WTF form (CSRF token checked); every change goes through one
audited service of review/core/accounts.py or review/human/members.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from review.core.accounts import (
    NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    account_events,
    add_key,
    add_user,
    list_keys,
    list_users,
    revoke_key,
    rotate_key,
    set_password,
    set_user_active,
    set_user_role,
    user_queues,
)
from review.core.db import get_session
from review.core.errors import DomainError, NotFound
from review.core.models import KEY_SCOPES, ROLES
from review.human.members import add_membership, all_memberships, parse_tags, remove_membership
from review.reports.policy_view import queue_policies

bp = Blueprint("admin", __name__, url_prefix="/admin")


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class UserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_MAX)])
    password = PasswordField("Password", validators=[
        DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)])
    role = SelectField("Role", choices=list(ROLES), default="reviewer")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=list(ROLES))


class SetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[
        DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)])


class MemberForm(FlaskForm):
    queue = StringField("Queue", validators=[DataRequired(), Length(max=64)])
    user_id = StringField("User", validators=[DataRequired(), Length(max=12)])
    tags = StringField("Tags", validators=[Optional(), Length(max=2000)])


class KeyActionForm(FlaskForm):
    key_id = StringField("Key", validators=[DataRequired(), Length(max=12)])


class KeyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=NAME_MAX)])
    scope = SelectField("Scope", choices=list(KEY_SCOPES), default="submit")
    user = StringField("User (review keys)", validators=[Optional(), Length(max=NAME_MAX)])


@bp.before_request
@login_required
def _admins_only() -> None:
    # Every page here is for admins; anonymous callers were sent to /login above.
    if current_user.user.role != "admin":
        abort(403)


def _me() -> tuple[str, int]:
    return current_user.user.name, current_user.user.id


def _change(form: FlaskForm, back: str, action: Callable[[], str]) -> Response:
    """Validate `form`, run `action` (it returns the message to show) and go `back`.
    A missing object is a 404; any other refusal is flashed."""
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash("; ".join(errors), "error")
        return redirect(url_for(back))
    try:
        flash(action(), "info")
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for(back))


def _shown_once(key: Any, raw: str, what: str) -> Response:
    response = make_response(render_template("admin/key_shown.html", key=key, raw=raw,
                                             what=what))
    response.headers["Cache-Control"] = "no-store"  # the raw key must not be kept anywhere
    return response


@bp.get("/users")
def users():
    session = get_session()
    rows = list_users(session)
    return render_template("admin/users.html", users=rows, roles=ROLES,
                           queues=user_queues(session, [u.id for u in rows]),
                           events=account_events(session, 50), form=UserForm(),
                           action=ActionForm(), me=current_user.user.id)


@bp.post("/users")
def create_user():
    form = UserForm()

    def create() -> str:
        user = add_user(get_session(), _me()[0], form.name.data.strip(), form.password.data,
                        form.role.data)
        return f"Created {user.role} {user.name}."
    return _change(form, "admin.users", create)


def _set_active(user_id: int, active: bool) -> Response:
    def change() -> str:
        name, me = _me()
        user, changed = set_user_active(get_session(), name, user_id, active,
                                        acting_user_id=me)
        state = "active" if active else "deactivated; their sessions and keys stop working"
        return f"{user.name} is {state}." if changed else f"{user.name} was already so."
    return _change(ActionForm(), "admin.users", change)


@bp.post("/users/<int:user_id>/deactivate")
def deactivate_user(user_id: int):
    return _set_active(user_id, False)


@bp.post("/users/<int:user_id>/activate")
def activate_user(user_id: int):
    return _set_active(user_id, True)


@bp.post("/users/<int:user_id>/role")
def set_role(user_id: int):
    form = RoleForm()

    def change() -> str:
        name, me = _me()
        user, _changed = set_user_role(get_session(), name, user_id, form.role.data,
                                       acting_user_id=me)
        return f"{user.name} is a{'n' if user.role == 'admin' else ''} {user.role}."
    return _change(form, "admin.users", change)


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int):
    form = SetPasswordForm()

    def change() -> str:
        user = set_password(get_session(), _me()[0], user_id, form.password.data)
        return f"Password of {user.name} set; their sessions have ended."
    return _change(form, "admin.users", change)


@bp.get("/members")
def members():
    session = get_session()
    return render_template("admin/members.html", queues=all_memberships(session),
                           users=list_users(session), form=MemberForm(), action=ActionForm())


@bp.post("/members")
def add_member():
    form = MemberForm()

    def change() -> str:
        if not form.user_id.data.isdigit():
            raise NotFound("user_not_found", "No such user.")
        member = add_membership(get_session(), _me()[0], form.queue.data,
                                int(form.user_id.data), parse_tags(form.tags.data or ""))
        return f"{member['name']} is a member of {member['queue']}."
    return _change(form, "admin.members", change)


@bp.post("/members/<slug>/<int:user_id>/remove")
def remove_member(slug: str, user_id: int):
    def change() -> str:
        remove_membership(get_session(), _me()[0], slug, user_id)
        return f"Removed from {slug}; items they held are back in the queue."
    return _change(ActionForm(), "admin.members", change)


@bp.get("/queues")
def queues():
    return render_template("admin/queues.html", queues=queue_policies(get_session()))


@bp.get("/keys")
def keys():
    return render_template("admin/keys.html", keys=list_keys(get_session()), scopes=KEY_SCOPES,
                           form=KeyForm(), action=ActionForm())


@bp.post("/keys")
def create_key():
    form = KeyForm()
    if form.validate_on_submit():
        try:
            key, raw = add_key(get_session(), _me()[0], form.name.data.strip(),
                               form.scope.data, (form.user.data or "").strip() or None)
            return _shown_once(key, raw, "created")
        except DomainError as exc:
            flash(exc.message, "error")
    for errors in form.errors.values():
        flash("; ".join(errors), "error")
    return redirect(url_for("admin.keys"))


def _key_id(form: KeyActionForm) -> int:
    # The key's id travels in the form, not the path: the page's buttons are forms anyway.
    raw = form.key_id.data or ""
    if not raw.isdigit() or int(raw) > 2**31 - 1:
        raise NotFound("key_not_found", "No such API key.")
    return int(raw)


@bp.post("/keys/revoke")
def revoke():
    form = KeyActionForm()

    def change() -> str:
        key = revoke_key(get_session(), _me()[0], _key_id(form))
        return f"Key {key.id} ({key.name}, {key.prefix}…) is revoked."
    return _change(form, "admin.keys", change)


@bp.post("/keys/rotate")
def rotate():
    form = KeyActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.keys"))
    try:
        old_id = _key_id(form)
        key, raw = rotate_key(get_session(), _me()[0], old_id)
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.keys"))
    return _shown_once(key, raw, f"rotated (key {old_id} is revoked)")
