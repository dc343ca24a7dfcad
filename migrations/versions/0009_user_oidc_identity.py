"""users: the OpenID Connect identity (issuer, subject) a user signs in with

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:10:00

A unique index rather than a table constraint: SQLite adds it without rebuilding
the users table (which other tables reference). Local users keep both columns NULL,
which a unique index allows any number of times on both databases.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('oidc_issuer', sa.String(length=255), nullable=True))
    op.add_column('users', sa.Column('oidc_subject', sa.String(length=255), nullable=True))
    op.create_index('ux_users_oidc_identity', 'users', ['oidc_issuer', 'oidc_subject'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('ux_users_oidc_identity', table_name='users')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('oidc_subject')
        batch.drop_column('oidc_issuer')
