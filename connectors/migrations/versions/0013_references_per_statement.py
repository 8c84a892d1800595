"""references checked once per statement (PostgreSQL): decisions' and notices' foreign keys become statement triggers

A foreign key checks its reference row by row: each inserted row runs its own lookup query, whose
executor start-up is most of the cost. In a first backfill (19 decisions and 10 notices per firm) the
four references of decisions and notices were 45% of the server's CPU. Here each INSERT checks its
rows' references at once: it locks the distinct rows they name FOR KEY SHARE, as a foreign key
does, and refuses the statement if fewer rows were locked than keys named. The rest of what a foreign
key guarantees is kept by triggers of the same kind: a firm, explanation or decision still named
cannot be deleted (the delete waits for the lock of a transaction naming it, then sees its rows; such
deletes run at READ COMMITTED, the application's level, and are refused at any other), and neither a reference nor a referenced key can be changed (nothing changes them; a foreign key
would allow a change to another existing key, these refuse every change). Refusals are SQLSTATE
23503 (foreign_key_violation) or 23001 (restrict_violation), integrity errors as before.

SQLite keeps its foreign keys: the models still declare them, and its checks are not the cost there.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

#: (constraint, referencing table, column, referenced table, key): the foreign keys replaced, by their names.
REFERENCES = (
    ('decision_uscc_fkey', 'decision', 'uscc', 'firm', 'uscc'),
    ('fk_decision_explanation_sha256', 'decision', 'explanation_sha256', 'explanation', 'sha256'),
    ('notice_decision_id_fkey', 'notice', 'decision_id', 'decision', 'id'),
    ('notice_uscc_fkey', 'notice', 'uscc', 'firm', 'uscc'),
)


def _check_inserted(constraint: str, table: str, column: str, target: str, key: str) -> str:
    """PL/pgSQL: lock the rows the statement's new rows name; refuse it if one is missing."""
    return f"""
  SELECT count(*) INTO locked FROM (
    SELECT 1 FROM {target} t WHERE t.{key} IN (SELECT {column} FROM new_rows) FOR KEY SHARE OF t) l;
  SELECT count(DISTINCT {column}) INTO named FROM new_rows;
  IF locked <> named THEN
    SELECT n.{column} INTO missing FROM new_rows n
     WHERE n.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{key} = n.{column}) LIMIT 1;
    RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint "{constraint}"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{constraint}', TABLE = '{table}',
            DETAIL = format('Key ({column})=(%s) is not present in table "{target}".', missing);
  END IF;"""


def _check_deleted(constraint: str, table: str, column: str, target: str, key: str) -> str:
    """PL/pgSQL: refuse a delete of rows still named (a new snapshot per query: committed names are seen)."""
    return f"""
  SELECT o.{key} INTO missing FROM old_rows o WHERE EXISTS (SELECT 1 FROM {table} r WHERE r.{column} = o.{key}) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'update or delete on table "{target}" violates foreign key constraint "{constraint}" on table "{table}"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{constraint}', TABLE = '{target}',
            DETAIL = format('Key ({key})=(%s) is still referenced from table "{table}".', missing);
  END IF;"""


#: PL/pgSQL, first in a delete's check: at REPEATABLE READ or SERIALIZABLE the checks' snapshot would not
#: see rows committed by a transaction that locked a deleted row after the snapshot was taken (a foreign
#: key checks those with a second snapshot, which PL/pgSQL cannot take), so such deletes are refused.
_DELETE_AT_READ_COMMITTED = """
  IF current_setting('transaction_isolation') <> 'read committed' AND EXISTS (SELECT 1 FROM old_rows) THEN
    RAISE EXCEPTION 'rows of table "%" that other rows may name are deleted at READ COMMITTED only', TG_TABLE_NAME
      USING ERRCODE = 'restrict_violation', TABLE = TG_TABLE_NAME;
  END IF;"""


def _function(name: str, checks: list[str]) -> str:
    return f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing text;
  locked bigint;
  named bigint;
BEGIN{''.join(checks)}
  RETURN NULL;
END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for constraint, table, *_ in REFERENCES:
        op.drop_constraint(constraint, table, type_='foreignkey')
    op.execute("""CREATE FUNCTION refuse_reference_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a reference or referenced key of table "%" cannot be changed', TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation', TABLE = TG_TABLE_NAME;
END
$$""")
    for table in ('decision', 'notice'):
        mine = [r for r in REFERENCES if r[1] == table]
        op.execute(_function(f'{table}_references_check', [_check_inserted(*r) for r in mine]))
        op.execute(f'CREATE TRIGGER {table}_references_inserted AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows '
                   f'FOR EACH STATEMENT EXECUTE FUNCTION {table}_references_check()')
        columns = [r[2] for r in mine]
        op.execute(f'CREATE TRIGGER {table}_references_unchanged BEFORE UPDATE OF {", ".join(columns)} ON {table} FOR EACH ROW '
                   f'WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)}) '
                   'EXECUTE FUNCTION refuse_reference_change()')
    for target in ('firm', 'explanation', 'decision'):
        named = [r for r in REFERENCES if r[3] == target]
        key = named[0][4]
        op.execute(_function(f'{target}_referenced_check', [_DELETE_AT_READ_COMMITTED, *(_check_deleted(*r) for r in named)]))
        op.execute(f'CREATE TRIGGER {target}_referenced_deleted AFTER DELETE ON {target} REFERENCING OLD TABLE AS old_rows '
                   f'FOR EACH STATEMENT EXECUTE FUNCTION {target}_referenced_check()')
        op.execute(f'CREATE TRIGGER {target}_key_unchanged BEFORE UPDATE OF {key} ON {target} FOR EACH ROW '
                   f'WHEN (OLD.{key} IS DISTINCT FROM NEW.{key}) EXECUTE FUNCTION refuse_reference_change()')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in ('decision', 'notice'):
        op.execute(f'DROP TRIGGER {table}_references_inserted ON {table}')
        op.execute(f'DROP TRIGGER {table}_references_unchanged ON {table}')
        op.execute(f'DROP FUNCTION {table}_references_check()')
    for target in ('firm', 'explanation', 'decision'):
        op.execute(f'DROP TRIGGER {target}_referenced_deleted ON {target}')
        op.execute(f'DROP TRIGGER {target}_key_unchanged ON {target}')
        op.execute(f'DROP FUNCTION {target}_referenced_check()')
    op.execute('DROP FUNCTION refuse_reference_change()')
    for constraint, table, column, target, key in REFERENCES:
        op.create_foreign_key(constraint, table, target, [column], [key])
