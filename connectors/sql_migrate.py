"""Schema migrations (Alembic), run by `policy-push db upgrade` and by `serve` on start."""

from __future__ import annotations

import pathlib

import sqlalchemy.engine
from alembic import command, script
from alembic.config import Config

MIGRATIONS = pathlib.Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for `database_url`, with no .ini file needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision`. Blocking: call it outside a running event loop (or in a thread)."""
    if database_url.startswith("sqlite"):
        _ensure_sqlite_directory(database_url)
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Take the database's schema back to `revision` (data in dropped columns and tables is lost).
    Blocking, like `upgrade`."""
    command.downgrade(alembic_config(database_url), revision)


def revisions() -> list[str]:
    """Every migration shipped with this code, oldest first."""
    scripts = script.ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


def head_revision() -> str:
    """The newest migration shipped with this code."""
    heads = script.ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"migrations have {len(heads)} heads"
    return heads[0]


def _ensure_sqlite_directory(database_url: str) -> None:
    database = sqlalchemy.engine.make_url(database_url).database
    if database:
        pathlib.Path(database).parent.mkdir(parents=True, exist_ok=True)
