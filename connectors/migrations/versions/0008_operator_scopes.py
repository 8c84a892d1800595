"""operator scopes: the regions an operator account may see (NULL: all of them)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable with no default: every existing account keeps seeing all regions (engine.core.scopes.load).
    with op.batch_alter_table('operator', schema=None) as batch_op:
        batch_op.add_column(sa.Column('regions', sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('operator', schema=None) as batch_op:
        batch_op.drop_column('regions')
