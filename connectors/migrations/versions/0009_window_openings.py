"""window openings: which clause windows have been handled as they opened, and the last day checked

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'window_opening',
        sa.Column('clause_id', sa.String(length=64), nullable=False),
        sa.Column('opens_on', sa.Date(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('firms', sa.Integer(), nullable=False),
        sa.Column('decisions', sa.Integer(), nullable=False),
        sa.Column('met', sa.Integer(), nullable=False),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('clause_id', 'opens_on'),
    )
    op.create_table(
        'window_check',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('checked_through', sa.Date(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('window_check')
    op.drop_table('window_opening')
