"""notice digests: the notices of one firm and channel due together go out as one message

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_id', sa.String(40), nullable=True))
        batch_op.create_index('ix_notice_digest', ['digest_id'])
        batch_op.create_index('ix_notice_firm_channel_status', ['uscc', 'channel', 'status'])


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_firm_channel_status')
        batch_op.drop_index('ix_notice_digest')
        batch_op.drop_column('digest_id')
