"""The security regression suite (issue 18) runs against the service's own app, built as in
tests/console: create_app + console.setup over the SQL `store` (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.console.conftest import (  # noqa: F401  (fixtures shared with the console's tests)
    cheap_argon2,
    console_client,
    console_clock,
    login,
    make_console_client,
    operators,
)
