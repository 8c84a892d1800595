"""Logging set-up: plain text for a terminal, or one JSON object per line for a log pipeline.

Code names what a record is about with the standard `extra` argument:

    log.info("event %s folded", event_id, extra={"event_id": event_id, "uscc": uscc})

In JSON each such field becomes a key beside `timestamp`, `level`, `logger` and `message`; in
text the known ids are appended as `[event_id=… uscc=…]`. `bound(...)` attaches ids to every
record logged inside a block (a ContextVar, so concurrent tasks never see each other's ids);
an id passed in `extra` wins over a bound one. Ids only: never put a person's name, phone
number or e-mail address in a log record.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from collections.abc import Iterator
from typing import IO, Any

from pythonjsonlogger import json as json_logger

#: The ids worth following a piece of work by, in the order the text format shows them.
CONTEXT_FIELDS = ("event_id", "uscc", "clause_id", "notice_id", "digest_id", "channel")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_bound: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("policy_push_log_context", default={})


@contextlib.contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Attach `ids` to every record logged in this block (by this task and what it awaits)."""
    token = _bound.set({**_bound.get(), **ids})
    try:
        yield
    finally:
        _bound.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record that does not carry them already (via `extra`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _bound.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the record's ids appended when it has any."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if getattr(record, key, None) is not None)
        if not ids:
            return line
        head, newline, rest = line.partition("\n")  # keep a traceback below the ids, not before them
        return f"{head} [{ids}]{newline}{rest}"


def json_formatter() -> logging.Formatter:
    """One JSON object per record: timestamp (UTC, ISO 8601), level, logger, message, then extras."""
    return json_logger.JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
        json_ensure_ascii=False,  # Chinese names of clauses and measures stay readable
    )  # the library's encoder writes dates as ISO 8601 and any other odd extra as its str()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of the record (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


#: The handler `configure` installed, so a second call replaces it instead of doubling every line.
_installed: logging.Handler | None = None


def configure(level: str = "INFO", fmt: str = "text", *, stream: IO[str] | None = None) -> logging.Handler:
    """Send the root logger's records at `level` and above to `stream` (standard error by default)
    in format `fmt` ("text" or "json"); return the handler installed."""
    global _installed
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(json_formatter() if fmt == "json" else TextFormatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic announces its context on every command, migrations or not; the migrations applied are
    # logged one line each by connectors/migrations/env.py instead.
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
    _installed = handler
    return handler
