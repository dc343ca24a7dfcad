"""account events: the audit trail of users, memberships and API keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'account_events',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor', sa.String(length=120), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('data', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
            nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_account_events_at', 'account_events', ['at'], unique=False)
    op.create_index('ix_account_events_user_id', 'account_events', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_account_events_user_id', table_name='account_events')
    op.drop_index('ix_account_events_at', table_name='account_events')
    op.drop_table('account_events')
