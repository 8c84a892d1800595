"""Condition trees of rule files: ``all:`` / ``any:`` groups of ``{attr, op, value}`` leaves.

Every leaf carries ``quote``, the clause's words it implements (checked by the loader against the
clause's text, or the document's for a condition of its whole scope); a number other than 0 is
one of the clause's named ``params``. Checked against rules/README.md: known attributes
(``engine.derive.ATTRIBUTE_TYPES``), operators, values of the attribute's type, nesting at most
:data:`MAX_DEPTH`, ``in`` lists of at most :data:`MAX_IN` values, numbers below :data:`MAX_ABS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.judging import derive
from engine.judging.catalogue import checker, model

MAX_DEPTH = 4
MAX_IN = 50
#: Numbers a condition may compare with: the durable-rules facts clamp values to this magnitude,
#: which keeps every comparison exact (see engine.catalogue.compiler).
MAX_ABS = 1e15


def group(
    check: checker.Checker, raw: Any, where: str, depth: int = 1, params: Mapping[str, model.Param] | None = None
) -> model.Group | None:
    """The group at key path ``where`` (depth 1 = the clause's ``conditions``), or None if invalid.
    A leaf's number other than 0 is one of ``params`` (the clause's), written ``value: {param: NAME}``;
    a dated one leaves the leaf's ``value`` None and its values by date in ``dated``."""
    kinds = [k for k in model.GROUP_KINDS if isinstance(raw, Mapping) and k in raw]
    if len(kinds) != 1:
        check.fail(where, "must be a group with exactly one of all: / any:")
        return None
    kind = kinds[0]
    if not check.keys(raw, where, {kind}, set()):
        return None
    if depth > MAX_DEPTH:
        check.fail(where, f"conditions nested deeper than {MAX_DEPTH}")
        return None
    items = raw[kind]
    if not isinstance(items, list) or not items:
        check.fail(f"{where}.{kind}", "must be a non-empty list")
        return None
    children = [condition(check, item, f"{where}.{kind}[{i}]", depth + 1, params) for i, item in enumerate(items)]
    if any(c is None for c in children):
        return None
    return model.Group(kind, tuple(children), where.partition(".conditions")[2].lstrip("."))


def condition(
    check: checker.Checker, raw: Any, where: str, depth: int, params: Mapping[str, model.Param] | None = None
) -> model.Condition | None:
    """One condition (a group or a leaf) at key path ``where``, or None if invalid."""
    if isinstance(raw, Mapping) and any(k in raw for k in model.GROUP_KINDS):
        return group(check, raw, where, depth, params)
    if not check.keys(raw, where, {"attr", "op", "value", "quote"}, set()):
        return None
    attr, op, value = raw["attr"], raw["op"], raw["value"]
    quote = check.text(raw["quote"], f"{where}.quote")
    if quote is None:
        return None
    param, dated = None, ()
    if isinstance(value, Mapping):
        name = value.get("param") if set(value) == {"param"} else None
        if not isinstance(name, str) or name not in (params or {}):
            check.fail(f"{where}.value", f"{dict(value)!r} names no parameter of the clause's params")
            return None
        param = name
        # A dated threshold compares with the value in force on the judging date: no one value here.
        value, dated = (None, params[name].values) if params[name].dated else (params[name].value, ())
    kind = derive.ATTRIBUTE_TYPES.get(attr) if isinstance(attr, str) else None
    if kind is None:
        check.fail(f"{where}.attr", f"unknown attribute {attr!r}")
    if check.enum(op, f"{where}.op", model.OPS, "op") is None or kind is None:
        return None
    problem = next((p for p in (value_problem(kind, op, v.value) for v in dated) if p), None) if dated \
        else value_problem(kind, op, value)
    if problem:
        check.fail(f"{where}.value", problem)
        return None
    if param is None and kind in (int, float) and value != 0:
        check.fail(f"{where}.value", f"{value!r} written in the condition: name it in the clause's params "
                                     "with the words that state it, and write {param: NAME}")
        return None
    path = where.partition(".conditions.")[2]
    return model.Leaf(attr, op, tuple(value) if op == "in" else value, path, quote, param, dated)


def value_problem(kind: type, op: str, value: Any) -> str | None:
    """Why ``value`` does not suit ``op`` on an attribute of Python type ``kind`` (None: it does)."""
    name = kind.__name__
    if op in ("lt", "le", "gt", "ge"):
        if kind not in (int, float):
            return f"{op} needs a numeric attribute, this one is {name}"
        return typed(kind, value)
    if op == "in":
        if kind is bool:
            return "in is not for boolean attributes (use eq)"
        if not isinstance(value, list) or not value:
            return "in needs a non-empty list"
        if len(value) > MAX_IN:
            return f"in list has {len(value)} values (at most {MAX_IN})"
        if len(set(map(repr, value))) != len(value):
            return "in list repeats a value"
        return next((p for p in (typed(kind, v) for v in value) if p), None)
    if op == "prefix":
        if kind is not str:
            return f"prefix needs a string attribute, this one is {name}"
        return None if isinstance(value, str) and value else "prefix needs a non-empty string"
    return typed(kind, value)


def typed(kind: type, value: Any) -> str | None:
    """Why ``value`` is not a valid value of an attribute of Python type ``kind`` (None: it is)."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind in (int, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and abs(value) >= MAX_ABS:
            return f"{value!r} is out of range (|value| < {MAX_ABS:.0e})"
        if ok and kind is int and isinstance(value, float) and not value.is_integer():
            return f"{value!r} is not a whole number (the attribute is int)"
    else:
        ok = isinstance(value, str) and bool(value)
    return None if ok else f"value {value!r} does not match the attribute type {kind.__name__}"
