"""A quick first look at an event: does it pass its JSON Schema, yes or no, checked in compiled code.

Python's jsonschema, which names every problem, took about half of the CPU the webhook spends on
an event (0.5 ms of ~1 ms, bench/ingest.py under cProfile), for events that nearly always pass.
jsonschema-rs answers the yes-or-no question many times faster with the same schema and the same
format checks (the Python functions, called from it). Only its "yes" is trusted: on "no", or on
anything it cannot handle, the caller asks Python's jsonschema, which decides and names the
problems, so a difference between the two engines can only cost time, never let an event through
that the full check would refuse (where jsonschema-rs is stricter, e.g. `$` before a final newline
in a pattern, events take the slow path). tests/fuzz/test_schema_screen.py holds it to that on
valid events and arbitrary mutations of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs

#: A format check as jsonschema's FormatChecker keeps it: the function and the errors that mean "no".
Checker = tuple[Callable[[Any], Any], type[Exception] | tuple[type[Exception], ...]]


def _accepting(check: Callable[[Any], Any], raises: type[Exception] | tuple[type[Exception], ...]) -> Callable[[Any], bool]:
    def accepts(value: Any) -> bool:
        try:
            return bool(check(value))
        except raises:
            return False

    return accepts


def screen(schema: Mapping[str, Any], checkers: Mapping[str, Checker]) -> Callable[[Any], bool]:
    """A function telling whether an instance surely passes `schema` (Draft 2020-12) with `checkers`
    as its formats; False means "ask the full check", not "invalid"."""
    validator = jsonschema_rs.Draft202012Validator(
        dict(schema), validate_formats=True, formats={name: _accepting(*checker) for name, checker in checkers.items()},
    )

    def passes(instance: Any) -> bool:
        try:
            return validator.is_valid(instance)
        except Exception:  # e.g. an integer beyond 64 bits: the full check decides
            return False

    return passes
