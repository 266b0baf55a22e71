"""coordinator lease: the one coordinator process that may use this database

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    lease = op.create_table(
        'coordinator_lease',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('holder', sa.String(length=255), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=255), nullable=False),
        sa.Column('renewed_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    # The row exists from the start, so taking the lease is always a compare-and-set UPDATE.
    op.bulk_insert(lease, [{'id': 1, 'holder': '', 'host': '', 'pid': 0, 'address': '', 'renewed_at': 0.0}])


def downgrade() -> None:
    op.drop_table('coordinator_lease')
