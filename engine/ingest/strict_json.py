"""A request body's JSON, read strictly: what json.loads would take but nothing downstream can judge or store.

Refused with a ValueError: NaN and Infinity, numbers no double can hold, strings or keys holding U+0000
or a lone surrogate (PostgreSQL text cannot store them, UTF-8 cannot encode them), nesting too deep to
parse, and objects naming a key twice (DuplicateKey, which the webhooks answer with the key). Kept apart
from engine.ingest.validation, which checks a parsed event against its type's schema: this is the step
before, on the text, shared by the webhooks, broker messages, the API and the provider receipts. Also
the JSON Pointer helpers both use to say where a problem is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any


class DuplicateKey(ValueError):
    """A JSON object names the same key twice (json.loads would keep the last silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears twice in one object")
        self.key = key

    def problem(self) -> dict[str, str]:
        """The entry for an error answer's `problems` list."""
        return {"path": "", "key": self.key, "reason": f"duplicate key {self.key!r}: each key may appear once in an object"}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key are ambiguous: parsers disagree on which wins, so a signature checker
    # and this service could read different events from the same bytes. Refuse rather than guess.
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return value


def parse_json(text: str | bytes) -> Any:
    """A request body's JSON, strictly (RFC 8259): NaN, Infinity and numbers no double can hold
    are refused, since json.loads takes them and nothing downstream can judge them; so are
    strings holding U+0000 or a lone surrogate (\\ud800), which PostgreSQL text cannot store and
    UTF-8 cannot encode; objects naming a key twice (DuplicateKey); and nesting too deep to parse
    (a RecursionError otherwise). Raises ValueError."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # a UnicodeDecodeError is a ValueError too
    try:
        value = json.loads(text, parse_constant=_not_a_number, parse_float=_double, parse_int=_integer, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if _UNSTORABLE_SOURCE.search(text):  # cheap: the walk is needed only where an escape (or the character) is
        _check_text(value)
    return value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_UNSTORABLE_SOURCE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|[\x00\ud800-\udfff]")


def _check_text(value: Any) -> None:
    for path, node in walk(value, ""):
        if isinstance(node, str) and _UNSTORABLE.search(node):
            raise ValueError(f"the string at {path or '/'} holds U+0000 or a lone surrogate")
        if isinstance(node, dict) and any(_UNSTORABLE.search(key) for key in node):
            raise ValueError(f"a key in {path or '/'} holds U+0000 or a lone surrogate")


def walk(value: Any, prefix: str) -> Iterable[tuple[str, Any]]:
    """(JSON Pointer, node) for `value` and everything in it; iterative, since the parser
    allows deeper nesting than recursion would."""
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, dict):
            stack.extend((pointer(path, [key]), child) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((pointer(path, [index]), child) for index, child in enumerate(node))


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _double(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large for a number")
    return value


def _integer(text: str) -> int:
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise ValueError(f"{text[:40]}… is too large for a number") from None
    return value


def pointer(prefix: str, parts: Iterable[Any]) -> str:
    """The JSON Pointer (RFC 6901) of `parts` (keys and indexes) below the pointer `prefix`."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return prefix + "".join("/" + p for p in escaped)
