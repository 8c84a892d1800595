"""notice revisions (additions, adjustments), held stale notices, SMS only for concrete benefits

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cumulative', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('closes', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('by_sms', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='new', nullable=False))
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=True))
        batch_op.add_column(sa.Column('previous_amount', sa.Numeric(precision=18, scale=2), nullable=True))
        batch_op.add_column(sa.Column('previous_decision_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closes', sa.Date(), nullable=True))
        batch_op.drop_constraint('uq_notice_benefit', type_='unique')
        batch_op.create_unique_constraint('uq_notice_benefit', ['uscc', 'clause_id', 'channel', 'period', 'revision'])
    # What earlier notices announced is their decision's amount: later changes are told against it.
    op.execute("UPDATE notice SET amount = (SELECT decision.amount FROM decision WHERE decision.id = notice.decision_id)")


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notice_benefit', type_='unique')
        batch_op.create_unique_constraint('uq_notice_benefit', ['uscc', 'clause_id', 'channel', 'period'])
        batch_op.drop_column('closes')
        batch_op.drop_column('previous_decision_id')
        batch_op.drop_column('previous_amount')
        batch_op.drop_column('amount')
        batch_op.drop_column('revision')
        batch_op.drop_column('kind')
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_column('by_sms')
        batch_op.drop_column('closes')
        batch_op.drop_column('cumulative')
