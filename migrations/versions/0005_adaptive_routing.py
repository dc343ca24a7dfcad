"""adaptive routing: target error rate, learned thresholds per version, rollout, breaker

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 14:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('queues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_error_rate', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('confidence_level', sa.Float(), nullable=False,
                                      server_default='0.95'))
        batch_op.add_column(sa.Column('breaker_window', sa.Integer(), nullable=False,
                                      server_default='100'))
        batch_op.add_column(sa.Column('rollout_hold_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rollout_stage', sa.String(length=8), nullable=False,
                                      server_default='100%'))
        batch_op.add_column(sa.Column('stage_changed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('breaker_open', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('breaker_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('breaker_changed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('learned_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shadow_route', sa.String(length=8), nullable=True))
        batch_op.create_index(
            'ix_items_evidence', ['queue_id', 'model_version', 'prompt_version', 'decided_at'],
            unique=False,
            postgresql_where=sa.text("decided_by_kind = 'reviewer'"),
            sqlite_where=sa.text("decided_by_kind = 'reviewer'"))
    op.create_table(
        'learned_thresholds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('queue_id', sa.Integer(), sa.ForeignKey('queues.id'), nullable=False),
        sa.Column('model_version', sa.String(length=200), nullable=False),
        sa.Column('prompt_version', sa.String(length=200), nullable=False),
        sa.Column('threshold', sa.Float(), nullable=True),
        sa.Column('last_threshold', sa.Float(), nullable=True),
        sa.Column('evidence_count', sa.Integer(), nullable=False),
        sa.Column('errors', sa.Integer(), nullable=False),
        sa.Column('upper_bound', sa.Float(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('queue_id', 'model_version', 'prompt_version',
                            name='uq_learned_thresholds_version'),
    )


def downgrade() -> None:
    op.drop_table('learned_thresholds')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_evidence')
        batch_op.drop_column('shadow_route')
    with op.batch_alter_table('queues', schema=None) as batch_op:
        for column in ('learned_at', 'breaker_changed_at', 'breaker_reason', 'breaker_open',
                       'stage_changed_at', 'rollout_stage', 'rollout_hold_seconds',
                       'breaker_window', 'confidence_level', 'max_error_rate'):
            batch_op.drop_column(column)
