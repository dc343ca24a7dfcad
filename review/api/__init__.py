"""The JSON API, version 1: importing this package registers every route on `bp`."""

from review.api import (
    admin,
    comments,
    exports,
    items,
    openapi,
    queues,
    reports,
    reviewer,
    webhooks,
)
from review.api.blueprint import bp

__all__ = ["admin", "bp", "comments", "exports", "items", "openapi", "queues", "reports",
           "reviewer", "webhooks"]
