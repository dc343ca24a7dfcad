"""Database models, one module per group of tables. The schema itself is made only by
Alembic migrations; everything is importable from here (`from review.core.models import Item`).

A relationship to a class in another table module names it only in its annotation
(`# noqa: F821`): SQLAlchemy resolves the name from its registry, and a real import would
make the table modules import each other."""

from review.core.models.account_tables import AccountEvent, ApiKey, User
from review.core.models.base import ITEM_STATUSES, KEY_SCOPES, ROLES, Base, BigId, JsonType
from review.core.models.item_tables import Item, ItemEvent, Review
from review.core.models.queue_tables import (
    LearnedThreshold,
    OverflowShed,
    PolicyChange,
    Queue,
    QueueMember,
)
from review.core.models.report_tables import Alert, ReportRollup, ReportRollupDay
from review.core.models.webhook_tables import WebhookAttempt, WebhookDelivery

__all__ = [
    "AccountEvent",
    "Alert",
    "ApiKey",
    "Base",
    "BigId",
    "ITEM_STATUSES",
    "Item",
    "ItemEvent",
    "JsonType",
    "KEY_SCOPES",
    "LearnedThreshold",
    "OverflowShed",
    "PolicyChange",
    "Queue",
    "QueueMember",
    "ROLES",
    "ReportRollup",
    "ReportRollupDay",
    "Review",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
]
