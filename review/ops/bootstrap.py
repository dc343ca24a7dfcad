"""First run: an admin, a submit key and a demo queue, so a newcomer sees it work."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from review.core.accounts import create_api_key, create_user
from review.core.models import QueueMember, User
from review.core.queues import apply_policy, queue_by_slug, validate_policy

DEMO_QUEUE = {
    "name": "Demo: support answers",
    "auto_approve_at": 0.9,
    "review_below": 0.6,
    "audit_rate": 0.1,
    "sla_seconds": 3600,
    "blocked_phrases": ["fraudulent claim", "guaranteed refund", "legal advice"],
    "max_output_chars": 4000,
    "checker": {"type": "grounding", "threshold": 0.8},
}


@dataclass
class FirstRun:
    admin_name: str
    admin_password: str
    submit_key: str
    webhook_secret: str


def first_run(session: Session) -> FirstRun | None:
    """Create the starter set once; None when users already exist."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    admin = create_user(session, "admin", password, "admin")
    key, raw = create_api_key(session, "demo-upstream", "submit")
    apply_policy(session, "demo", validate_policy("demo", DEMO_QUEUE), actor="bootstrap")

    demo = queue_by_slug(session, "demo")
    session.add(QueueMember(queue_id=demo.id, user_id=admin.id, tags=[]))
    session.commit()
    return FirstRun("admin", password, raw, key.webhook_secret)
