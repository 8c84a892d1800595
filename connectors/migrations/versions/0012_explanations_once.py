"""explanations stored once: decision.explanation becomes a reference to an explanation table

Firms judged the same way share an explanation word for word: a first backfill of a province wrote
one per decision (about 40% of the database's bytes) for a few thousand distinct texts. Each is now
stored once, keyed by the SHA-256 of its JSON text, and a decision names it.

Revision ID: 0012
Revises: 0011
"""

import hashlib

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
#: Decisions moved per round trip: bounded memory on a database of any size.
_CHUNK = 10_000
_FOREIGN_KEY = 'fk_decision_explanation_sha256'


def upgrade() -> None:
    op.create_table(
        'explanation',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('body', _JSON, nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
    )
    op.add_column('decision', sa.Column('explanation_sha256', sa.String(length=64), nullable=True))
    _move_explanations(op.get_bind())
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.alter_column('explanation_sha256', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_foreign_key(_FOREIGN_KEY, 'explanation', ['explanation_sha256'], ['sha256'])
        batch_op.drop_column('explanation')


def _move_explanations(connection: sa.Connection) -> None:
    """Each decision's explanation into the explanation table (once per distinct text), named by its
    SHA-256 as the code computes it for new decisions (compact JSON, non-ASCII kept)."""
    decision = sa.table('decision', sa.column('id', sa.Integer), sa.column('explanation', _JSON),
                        sa.column('explanation_sha256', sa.String))
    explanation = sa.table('explanation', sa.column('sha256', sa.String), sa.column('body', _JSON))
    stored: set[str] = set()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(decision.c.id, decision.c.explanation).where(decision.c.id > after).order_by(decision.c.id).limit(_CHUNK)
        ).all()
        if not rows:
            return
        new: dict[str, object] = {}
        named = []
        for id_, body in rows:
            text = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
            sha256 = hashlib.sha256(text).hexdigest()
            if sha256 not in stored:
                stored.add(sha256)
                new[sha256] = body
            named.append({'b_id': id_, 'b_sha256': sha256})
        if new:
            connection.execute(sa.insert(explanation), [{'sha256': k, 'body': v} for k, v in new.items()])
        connection.execute(
            sa.update(decision).where(decision.c.id == sa.bindparam('b_id')).values(explanation_sha256=sa.bindparam('b_sha256')),
            named,
        )
        after = rows[-1].id


def downgrade() -> None:
    op.add_column('decision', sa.Column('explanation', _JSON, nullable=True))
    op.execute("UPDATE decision SET explanation = "
               "(SELECT explanation.body FROM explanation WHERE explanation.sha256 = decision.explanation_sha256)")
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.alter_column('explanation', existing_type=_JSON, nullable=False)
        batch_op.drop_constraint(_FOREIGN_KEY, type_='foreignkey')
        batch_op.drop_column('explanation_sha256')
    op.drop_table('explanation')
