"""notices: outbox, attempts, opt-outs

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_opt_out',
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['uscc'], ['firm.uscc'], ),
    sa.PrimaryKeyConstraint('uscc', 'channel')
    )
    op.create_table('notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.String(length=40), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('clause_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_id', sa.String(length=128), nullable=True),
    sa.Column('message', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['decision.id'], ),
    sa.ForeignKeyConstraint(['uscc'], ['firm.uscc'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notice_id'),
    sa.UniqueConstraint('uscc', 'clause_id', 'channel', 'period', name='uq_notice_benefit')
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index('ix_notice_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_uscc'), ['uscc'], unique=False)

    op.create_table('notice_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('status_after', sa.String(length=16), nullable=False),
    sa.Column('provider_id', sa.String(length=128), nullable=True),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.notice_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notice_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_attempt_notice_id'), ['notice_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notice_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_attempt_notice_id'))

    op.drop_table('notice_attempt')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_uscc'))
        batch_op.drop_index(batch_op.f('ix_notice_provider_id'))
        batch_op.drop_index('ix_notice_due')

    op.drop_table('notice')
    op.drop_table('channel_opt_out')
