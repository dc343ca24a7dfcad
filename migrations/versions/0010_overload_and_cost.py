"""overload and cost: queue overflow/cost/budget policy, item usage, overflow sheds

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 13:15:00

Columns are added with ALTER TABLE ... ADD COLUMN on both databases (no SQLite table
rebuild, so the items table keeps the decisions feed's triggers of migration 0007).
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
QUEUE_COLUMNS = [
    sa.Column('overflow', sa.String(length=8), nullable=False, server_default='accept'),
    sa.Column('fallback_outcome', sa.String(length=8), nullable=False,
              server_default='reject'),
    sa.Column('fallback_reason', sa.String(length=200), nullable=False,
              server_default='overflow'),
    sa.Column('fallback_audit_rate', sa.Float(), nullable=False, server_default='0'),
    sa.Column('overflow_priority_floor', sa.Integer(), nullable=True),
    sa.Column('overflow_reviewers', JSON, nullable=False, server_default='[]'),
    sa.Column('human_hourly_rate', sa.Float(), nullable=True),
    sa.Column('checker_daily_budget', sa.Float(), nullable=True),
]
ITEM_COLUMNS = [
    sa.Column('usage_input_tokens', sa.BigInteger(), nullable=True),
    sa.Column('usage_output_tokens', sa.BigInteger(), nullable=True),
    sa.Column('usage_cost', sa.Float(), nullable=True),
    sa.Column('check_input_tokens', sa.BigInteger(), nullable=True),
    sa.Column('check_output_tokens', sa.BigInteger(), nullable=True),
    sa.Column('check_cost', sa.Float(), nullable=True),
]


def upgrade() -> None:
    for column in QUEUE_COLUMNS:
        op.add_column('queues', column)
    for column in ITEM_COLUMNS:
        op.add_column('items', column)
    op.create_table(
        'overflow_sheds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('queue_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('submitter', sa.String(length=80), nullable=False),
        sa.Column('items', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('external_ids', JSON, nullable=False),
        sa.ForeignKeyConstraint(['queue_id'], ['queues.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_overflow_sheds_queue_at', 'overflow_sheds', ['queue_id', 'at'])


def downgrade() -> None:
    op.drop_index('ix_overflow_sheds_queue_at', table_name='overflow_sheds')
    op.drop_table('overflow_sheds')
    # SQLite >= 3.35 drops a column in place (no rebuild, the feed triggers stay).
    for column in reversed(ITEM_COLUMNS):
        op.drop_column('items', column.name)
    for column in reversed(QUEUE_COLUMNS):
        op.drop_column('queues', column.name)
