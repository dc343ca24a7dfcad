"""evidence keyed by model name too; per-version shift detection; on_shift

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:20:00

learned_thresholds gains model_name (existing rows: '' = "no model name", which the
router matches only for items that name no model, so old rows stop covering named
models: they must earn their own evidence) and the shift detector's columns; its unique
key becomes (queue_id, model_name, model_version, prompt_version). queues gains on_shift.
Columns on queues are added with ALTER TABLE ... ADD COLUMN (no SQLite rebuild);
learned_thresholds is rebuilt on SQLite for the new unique key.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.add_column('queues', sa.Column('on_shift', sa.String(length=8), nullable=False,
                                      server_default='hold'))
    with op.batch_alter_table('learned_thresholds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_name', sa.String(length=200), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('earned_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('shift_state', JSON, nullable=True))
        batch_op.add_column(sa.Column('shift_detected_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('shift_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('evidence_since', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('threshold_since', sa.DateTime(), nullable=True))
        batch_op.drop_constraint('uq_learned_thresholds_version', type_='unique')
        batch_op.create_unique_constraint(
            'uq_learned_thresholds_version',
            ['queue_id', 'model_name', 'model_version', 'prompt_version'])


def downgrade() -> None:
    with op.batch_alter_table('learned_thresholds', schema=None) as batch_op:
        batch_op.drop_constraint('uq_learned_thresholds_version', type_='unique')
        for column in ('threshold_since', 'evidence_since', 'shift_reason',
                       'shift_detected_at', 'shift_state', 'earned_at', 'model_name'):
            batch_op.drop_column(column)
        batch_op.create_unique_constraint(
            'uq_learned_thresholds_version', ['queue_id', 'model_version', 'prompt_version'])
    op.drop_column('queues', 'on_shift')
