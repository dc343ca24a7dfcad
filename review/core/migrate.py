"""Run Alembic migrations from code: the only way the schema is made."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig

from review.core.paths import MIGRATIONS_DIR


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    """Autogenerate a migration (developer tool)."""
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
