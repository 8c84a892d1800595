"""firm page: firms' answers to their decisions, their SMS preference and link revocation

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('firm_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('clause_id', sa.String(length=64), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['decision.id'], ),
    sa.ForeignKeyConstraint(['uscc'], ['firm.uscc'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('firm_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_firm_response_uscc'), ['uscc'], unique=False)
        batch_op.create_index('ix_firm_response_action_at', ['action', 'at'], unique=False)

    op.create_table('firm_preference',
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('sms', sa.String(length=16), nullable=False),
    sa.Column('links_revoked_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['uscc'], ['firm.uscc'], ),
    sa.PrimaryKeyConstraint('uscc')
    )


def downgrade() -> None:
    op.drop_table('firm_preference')
    with op.batch_alter_table('firm_response', schema=None) as batch_op:
        batch_op.drop_index('ix_firm_response_action_at')
        batch_op.drop_index(batch_op.f('ix_firm_response_uscc'))
    op.drop_table('firm_response')
