"""Shape checks shared by the rule-file loader: each failure is recorded with its key path.

A :class:`Checker` collects problems as ``"<source>: <key path>: <message>"`` and keeps going,
so one pass reports everything wrong with a file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from engine.core import regions

# ASCII digits only: `\d` also matches other scripts' digits, and `$` a trailing newline.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CODE = re.compile(r"[0-9]{6}")


def join(where: str, key: str) -> str:
    """``where.key`` (just ``key`` at the top level)."""
    return f"{where}.{key}" if where else key


class Checker:
    """Problem collector with typed accessors; each returns the value, or None after recording why not."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        """Record a problem at key path ``where`` ("" for the file as a whole)."""
        self.problems.append(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    def keys(self, node: Any, where: str, required: set[str], optional: set[str]) -> bool:
        """``node`` is a mapping with every required key and no unknown one."""
        if not isinstance(node, Mapping):
            self.fail(where, "must be a mapping")
            return False
        ok = True
        for key in sorted(set(node) - required - optional, key=str):
            self.fail(join(where, str(key)), "unknown key")
            ok = False
        for key in sorted(required - set(node)):
            self.fail(join(where, key), "missing required key")
            ok = False
        return ok

    def text(self, value: Any, where: str, *, nullable: bool = False) -> str | None:
        """A non-empty string (or None where ``nullable``)."""
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "must be a non-empty string")
            return None
        return value

    def date(self, value: Any, where: str, *, nullable: bool = False) -> Any:
        """A ``YYYY-MM-DD`` date; False when invalid, None only where ``nullable`` and null."""
        if value is None and nullable:
            return None
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(where, f"bad date {value!r} (expected YYYY-MM-DD)")
        return False  # distinguishes "bad" from a legitimate null

    def code(self, value: Any, where: str) -> str | None:
        """A GB/T 2260 code in use (or a national code), written as a quoted string."""
        if not isinstance(value, str) or not _CODE.fullmatch(value):
            self.fail(where, f"bad GB/T 2260 code {value!r} (a quoted 6-digit string)")
            return None
        if value not in regions.NATIONAL_CODES and not regions.is_known_region(value):
            self.fail(where, f"unknown GB/T 2260 code {value!r}")
            return None
        return value

    def enum(self, value: Any, where: str, allowed: Sequence[str], what: str) -> str | None:
        """One of ``allowed``; ``what`` names the enumeration in the message."""
        if value not in allowed:
            self.fail(where, f"bad {what} {value!r} (one of {', '.join(allowed)})")
            return None
        return value

    def strings(self, value: Any, where: str) -> tuple[str, ...] | None:
        """A list of non-empty strings, as a tuple."""
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(where, "must be a list of non-empty strings")
            return None
        return tuple(value)
