"""shared backfills: a run and its key-range batches, claimed from the database by any number of processes

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        'backfill_run',
        sa.Column('run_id', sa.String(length=40), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('clause_ids', JSON, nullable=True),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('first_only', sa.Boolean(), nullable=False),
        sa.Column('catalogue_version', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('run_id'),
    )
    op.create_table(
        'backfill_batch',
        sa.Column('run_id', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('after_key', sa.String(length=32), nullable=False),
        sa.Column('upto_key', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('claimed_by', sa.String(length=128), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('firms', sa.Integer(), nullable=False),
        sa.Column('recorded', sa.Integer(), nullable=False),
        sa.Column('notices', sa.Integer(), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['backfill_run.run_id']),
        sa.PrimaryKeyConstraint('run_id', 'seq'),
    )
    op.create_index('ix_backfill_batch_claim', 'backfill_batch', ['run_id', 'status', 'seq'])


def downgrade() -> None:
    op.drop_index('ix_backfill_batch_claim', table_name='backfill_batch')
    op.drop_table('backfill_batch')
    op.drop_table('backfill_run')
