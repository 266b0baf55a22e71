"""training jobs: a job's schedule and progress, and which rounds it ran

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('job_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('spec_json', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('finished_at', sa.Float(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('rounds_done', sa.Integer(), nullable=False),
    sa.Column('failed_streak', sa.Integer(), nullable=False),
    sa.Column('best_value', sa.Float(), nullable=True),
    sa.Column('best_round_index', sa.Integer(), nullable=False),
    sa.Column('metrics_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('job_id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_state'), ['state'], unique=False)
    op.create_table('job_rounds',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('job_round', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.job_id'], ),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.round_id'], ),
    sa.PrimaryKeyConstraint('round_id')
    )
    with op.batch_alter_table('job_rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_rounds_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_rounds_job_id'))
    op.drop_table('job_rounds')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_state'))
    op.drop_table('jobs')
