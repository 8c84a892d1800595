"""region designations of every kind: region_risk becomes region_designation with a kind column

A county is designated by more than one body: the health commission's medium/high risk areas
(kind epidemic_risk, with a level) and the city's 示范县 创建县 (kind sme_demo_county, no level).
The existing risk rows are kept as kind epidemic_risk.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'region_designation',
        sa.Column('county', sa.String(length=6), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('level', sa.String(length=16), nullable=True),
        sa.Column('event_id', sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['event.event_id']),
        sa.PrimaryKeyConstraint('county', 'kind', 'year'),
    )
    op.execute(
        "INSERT INTO region_designation (county, kind, year, level, event_id) "
        "SELECT county, 'epidemic_risk', year, level, event_id FROM region_risk"
    )
    op.drop_table('region_risk')


def downgrade() -> None:
    op.create_table(
        'region_risk',
        sa.Column('county', sa.String(length=6), nullable=False),
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('level', sa.String(length=16), nullable=False),
        sa.Column('event_id', sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['event.event_id']),
        sa.PrimaryKeyConstraint('county', 'year'),
    )
    # Other kinds have no place in the old table: downgrading forgets them (their events stay stored).
    op.execute(
        "INSERT INTO region_risk (county, year, level, event_id) "
        "SELECT county, year, level, event_id FROM region_designation WHERE kind = 'epidemic_risk'"
    )
    op.drop_table('region_designation')
