"""The declarative base, column types shared by every table, and the value sets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

JsonType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")

ITEM_STATUSES = ("checking", "pending", "in_review", "approved", "rejected")
ROLES = ("reviewer", "supervisor", "admin")
KEY_SCOPES = ("submit", "review", "admin")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JsonType, list[Any]: JsonType, Any: JsonType}
