"""webhook event ids up to 80 characters

`evt_<32-char item id>_<event>` (e.g. `evt_…_sla_breached`) does not fit in
40 characters; PostgreSQL enforces the length, SQLite does not.

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.alter_column('event_id', existing_type=sa.String(length=40),
                              type_=sa.String(length=80), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.alter_column('event_id', existing_type=sa.String(length=80),
                              type_=sa.String(length=40), existing_nullable=False)
