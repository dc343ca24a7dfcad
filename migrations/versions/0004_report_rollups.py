"""report rollups: grouped report rows of closed days

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_rollups',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
                  nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('queue_id', sa.Integer(), nullable=False),
        *[sa.Column(f'k{i}', sa.String(length=200), nullable=True) for i in range(1, 8)],
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.Column('total', sa.Float(), nullable=True),
        sa.Column('first_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('report_rollups', schema=None) as batch_op:
        batch_op.create_index('ix_report_rollups_lookup', ['kind', 'queue_id', 'day'],
                              unique=False)
    op.create_table(
        'report_rollup_days',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('done_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'day'),
    )


def downgrade() -> None:
    op.drop_table('report_rollup_days')
    with op.batch_alter_table('report_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_report_rollups_lookup')
    op.drop_table('report_rollups')
