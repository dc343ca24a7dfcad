"""report indexes: covering indexes for the supervisor dashboard and reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00

The dashboard and reports aggregate a queue's items over a time window. With
these indexes PostgreSQL answers them with index-only scans (the extra columns
are INCLUDEd, so only the leading columns are searchable keys); SQLite ignores
the INCLUDE list and gets plain (queue_id, time) indexes.
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CREATED_INCLUDE = ['route_path', 'model_name', 'model_version', 'prompt_version', 'confidence',
                   'decided_by_kind', 'decision_outcome', 'check_verdict', 'decision_reason']
DECIDED_INCLUDE = ['decided_by_kind', 'created_at', 'due_at']
REVIEWS_INCLUDE = ['reviewer_id', 'outcome', 'claimed_at']


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index('ix_items_report_created', ['queue_id', 'created_at'],
                              unique=False, postgresql_include=CREATED_INCLUDE)
        batch_op.create_index('ix_items_report_decided', ['queue_id', 'decided_at'],
                              unique=False, postgresql_include=DECIDED_INCLUDE,
                              postgresql_where=sa.text('decided_at IS NOT NULL'),
                              sqlite_where=sa.text('decided_at IS NOT NULL'))
        batch_op.create_index('ix_items_checked', ['checked_at'], unique=False,
                              postgresql_include=['queue_id', 'check_verdict', 'check_latency_ms'],
                              postgresql_where=sa.text('checked_at IS NOT NULL'),
                              sqlite_where=sa.text('checked_at IS NOT NULL'))
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_attempts_at', ['at'], unique=False,
                              postgresql_include=['status_code'])
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index('ix_reviews_report', ['queue_id', 'created_at'], unique=False,
                              postgresql_include=REVIEWS_INCLUDE)


def downgrade() -> None:
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index('ix_reviews_report')
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_attempts_at')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_checked', postgresql_where=sa.text('checked_at IS NOT NULL'),
                            sqlite_where=sa.text('checked_at IS NOT NULL'))
        batch_op.drop_index('ix_items_report_decided',
                            postgresql_where=sa.text('decided_at IS NOT NULL'),
                            sqlite_where=sa.text('decided_at IS NOT NULL'))
        batch_op.drop_index('ix_items_report_created')
