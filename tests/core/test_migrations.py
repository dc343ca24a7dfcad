"""Migrations are the only way the schema is made; they run both ways."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from review.core.migrate import downgrade, upgrade
from review.core.models import Base


def test_upgrade_matches_models_and_downgrades(tmp_path):
    from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database

    if PG_URL:
        url, name = _create_pg_database(PG_URL)
    else:
        url, name = f"sqlite:///{tmp_path / 'm.db'}", None
    try:
        upgrade(url)
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert tables == set(Base.metadata.tables)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in inspect(engine).get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
        indexes = {i["name"] for i in inspect(engine).get_indexes("items")}
        assert {"ix_items_claimable", "ix_items_decisions"} <= indexes
        engine.dispose()
        downgrade(url, "base")
        engine = create_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        upgrade(url)
    finally:
        if name:
            _drop_pg_database(PG_URL, name)
