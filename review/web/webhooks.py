"""Admin page: webhook deliveries with their last attempt and a resend button."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from review.api.errors import status_of
from review.core.db import get_session
from review.core.errors import DomainError
from review.webhooks.delivery import DELIVERY_STATUSES, list_deliveries, resend

bp = Blueprint("webhooks_admin", __name__, url_prefix="/admin/webhooks")


def _require_admin() -> None:
    if current_user.user.role != "admin":
        abort(403)


@bp.get("/")
@login_required
def deliveries():
    _require_admin()
    status = request.args.get("status") or None
    if status not in (None, *DELIVERY_STATUSES):
        status = None
    item_id = (request.args.get("item_id") or "").strip()[:64] or None
    rows = list_deliveries(get_session(), status=status, item_id=item_id, limit=100)
    return render_template("admin/webhooks.html", deliveries=rows, status=status,
                           statuses=DELIVERY_STATUSES, item_id=item_id)


@bp.post("/<int:delivery_id>/resend")
@login_required
def resend_delivery(delivery_id: int):
    _require_admin()
    try:
        resend(get_session(), delivery_id)
    except DomainError as exc:
        abort(status_of(exc))
    flash(f"Delivery {delivery_id} queued to be sent again.", "info")
    return redirect(url_for("webhooks_admin.deliveries", status=request.args.get("status")))
