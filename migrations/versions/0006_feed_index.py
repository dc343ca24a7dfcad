"""decisions feed: a submitter's decided items in decision order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 14:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index(
            'ix_items_feed', ['submitter', 'decided_at', 'id'], unique=False,
            postgresql_where=sa.text('decided_at IS NOT NULL'),
            sqlite_where=sa.text('decided_at IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_feed')
