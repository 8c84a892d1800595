"""The catalogue as durable-rules rulesets (JSON data), and firm facts in the matching encoding.

Everything here follows the measured limits of durable-rules 2.0.28
(/work/shared/notes/durable-rules.md):

* one rule per executable clause, named by the clause id; jurisdiction and validity window are
  conditions too, so the engine alone decides ``met``;
* every rule starts with ``kind == "firm"``: the session's hidden state fact never matches;
* ``$or`` fires once per matching branch; and an assert fails (error 303) once more than 64
  alpha nodes are pending on the engine's match stack -- measured to happen with 66 single-branch
  rules of which only 6 match, so it is not a limit on matches. Pending nodes root disjoint
  subtrees of the ruleset's condition trie, each holding at least one rule branch, so packing
  clauses into rulesets of at most :data:`MAX_BRANCHES` branches (matching or not) bounds it;
* numbers go out without exponents (the engine's parser rejects ``1e-09``: error 204), booleans
  as JSON booleans, absent attributes are left out, and JSON is written with ensure_ascii=False;
* ``in`` is an ``$or`` of ``$eq``; ``prefix`` is ``$mt "X.*"``, metacharacters put in a
  one-character class (the engine's regex has no working backslash escape);
* rule data is validated before ``create_ruleset`` (some violations hang or crash the process);
* a threshold that is a dated parameter is an ``$or`` of one branch per value, each also testing that
  the fact's ``as_of`` lies in that value's days (counted as that many branches).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from engine import constants
from engine.core import regions
from engine.judging import derive
from engine.judging.catalogue import conditions, model

#: Branches per ruleset (DNF terms, matching or not): bounds the engine's 64 pending nodes, with a margin.
MAX_BRANCHES = 60
#: Engine limits checked before compiling (error codes 113, 108, 302; 512 children hangs).
MAX_NESTING = 7
MAX_IDENTICAL = 255
MAX_CHILDREN = 511
MAX_PROPERTIES = 252
GUARD = {"kind": "firm"}
AS_OF = "as_of"
#: Fact values beyond this magnitude are clamped to it: thresholds are below it (conditions.MAX_ABS),
#: so no comparison changes, and the engine never sees an integer it cannot hold.
CLAMP = conditions.MAX_ABS

# Metacharacters the engine's regex treats specially and that a one-character class makes literal;
# `\`, `[`, `]` and `^` cannot be written literally at all (measured), so prefixes may not use them.
_CLASSED = set(".()*+?|{}$")
_UNWRITABLE = set("\\[]^")
_DIGIT = "[0-9]"


class CompileError(ValueError):
    """Rule data the engine cannot run safely; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("cannot compile the catalogue for durable-rules:\n" + "\n".join(problems))


def day(value: dt.date) -> int:
    """A date as the integer YYYYMMDD: compared as a number, never as a string."""
    return value.year * 10000 + value.month * 100 + value.day


def accumulator_property(attr: str, clause_id: str) -> str:
    """The fact property carrying a grant accumulator as one clause sees it."""
    return f"{attr}@{clause_id}"


def prefix_pattern(value: str) -> str:
    """``$mt`` pattern matching strings starting with ``value`` (the whole string must match)."""
    bad = sorted(set(value) & _UNWRITABLE)
    if bad:
        raise ValueError(f"prefix {value!r} uses {''.join(bad)!r}, which the engine's regex cannot match literally")
    return "".join(f"[{c}]" if c in _CLASSED else c for c in value) + ".*"


def jurisdiction_condition(code: str) -> dict[str, Any]:
    """``region`` inside ``code``, exactly as :func:`reference.in_jurisdiction` decides it."""
    if code in regions.NATIONAL_CODES:
        return {"$mt": {"region": _DIGIT * 6}}
    if code.endswith("0000"):
        return {"$mt": {"region": code[:2] + _DIGIT * 4}}
    if code.endswith("00"):
        return {"$mt": {"region": code[:4] + _DIGIT * 2}}
    return {"region": code}


def _leaf(leaf: model.Leaf, prop: str) -> dict[str, Any]:
    if leaf.dated:
        return _dated(leaf, prop)
    return _compare(leaf.op, prop, leaf.value)


def _compare(op: str, prop: str, value: Any) -> dict[str, Any]:
    if op == "eq":
        return {prop: value}
    if op == "in":
        options = [{prop: v} for v in value]
        return options[0] if len(options) == 1 else {"$or": options}
    if op == "prefix":
        return {"$mt": {prop: prefix_pattern(value)}}
    # An absent property never matches `$neq` (measured), so `ne` stays unknown when absent.
    name = {"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}[op]
    return {name: {prop: value}}


def _dated(leaf: model.Leaf, prop: str) -> dict[str, Any]:
    """A threshold that is a dated parameter: one branch per value, each holding only while the fact's
    ``as_of`` lies in that value's days (they do not overlap, so at most one branch fires). On a day no
    value holds no branch matches: not met, as the reference's unknown."""
    options = []
    for value in leaf.dated:
        period = [{"$gte": {AS_OF: day(value.since)}}]
        if value.until is not None:
            period.append({"$lte": {AS_OF: day(value.until)}})
        options.append({"$and": [*period, _compare(leaf.op, prop, value.value)]})
    return options[0] if len(options) == 1 else {"$or": options}


def _node(node: model.Condition, clause: model.Clause) -> dict[str, Any]:
    if isinstance(node, model.Leaf):
        prop = accumulator_property(node.attr, clause.id) if node.attr == model.GRANTED else node.attr
        return _leaf(node, prop)
    children = [_node(child, clause) for child in node.children]
    if len(children) == 1:
        return children[0]
    return {"$and" if node.kind == "all" else "$or": children}


def rule(clause: model.Clause) -> dict[str, Any]:
    """The durable-rules rule (``{"all": [{"m": ...}]}``) that fires when ``clause`` is met."""
    parts: list[dict[str, Any]] = [dict(GUARD), jurisdiction_condition(clause.jurisdiction),
                                   {"$gte": {AS_OF: day(clause.valid_from)}}]
    if clause.valid_to is not None:
        parts.append({"$lte": {AS_OF: day(clause.valid_to)}})
    if clause.conditions is not None:
        parts.append(_node(clause.conditions, clause))
    return {"all": [{"m": {"$and": parts}}]}


def branches(node: model.Condition | None) -> int:
    """How many times the rule can fire for one fact: its disjunctive-normal-form size."""
    if node is None:
        return 1
    if isinstance(node, model.Leaf):
        return len(node.dated) if node.dated else len(node.value) if node.op == "in" else 1
    counts = [branches(child) for child in node.children]
    return sum(counts) if node.kind == "any" else math.prod(counts)


def plan(catalogue: model.Catalogue, max_branches: int = MAX_BRANCHES) -> list[dict[str, Any]]:
    """Rulesets (name → rule) for the executable clauses, packed in order, validated.

    Raises :class:`CompileError` listing every problem; nothing reaches the engine unless all
    rules pass :func:`problems`.
    """
    rulesets: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    used = 0
    trouble: list[str] = []
    for clause in catalogue.executable():
        size = branches(clause.conditions)
        if size > max_branches:
            trouble.append(f"{clause.id}: {size} branches, more than {max_branches} per ruleset")
            continue
        try:
            compiled = rule(clause)
        except ValueError as exc:
            trouble.append(f"{clause.id}: {exc}")
            continue
        if used + size > max_branches:
            rulesets.append(current)
            current, used = {}, 0
        current[clause.id] = compiled
        used += size
    if current:
        rulesets.append(current)
    trouble += problems(rulesets, catalogue)
    if trouble:
        raise CompileError(trouble)
    return rulesets


def problems(rulesets: list[dict[str, Any]], catalogue: model.Catalogue) -> list[str]:
    """Every engine limit the rulesets or the largest possible fact would break."""
    found: list[str] = []
    for n, ruleset in enumerate(rulesets):
        counts: dict[str, int] = {}
        for name, definition in ruleset.items():
            where = f"ruleset {n}, rule {name}"
            root = definition["all"][0]["m"]
            if root.get("$and", [None])[0] != GUARD:
                found.append(f"{where}: does not start with the firm guard")
            _walk(root, 1, where, found, counts)
        found += [f"ruleset {n}: condition {c} appears {k} times" for c, k in counts.items() if k > MAX_IDENTICAL]
    properties = len(fact_properties(catalogue)) + 2  # + sid, id
    if properties > MAX_PROPERTIES:
        found.append(f"facts would have {properties} properties (at most {MAX_PROPERTIES})")
    return found


def _walk(node: Any, depth: int, where: str, found: list[str], counts: dict[str, int]) -> None:
    if not isinstance(node, dict) or len(node) != 1:
        found.append(f"{where}: malformed condition {node!r}")
        return
    (key, value), = node.items()
    if key in ("$and", "$or"):
        if depth > MAX_NESTING:
            found.append(f"{where}: $and/$or nested deeper than {MAX_NESTING}")
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_CHILDREN:
            found.append(f"{where}: {key} with {len(value) if isinstance(value, list) else '?'} children")
            return
        for child in value:
            _walk(child, depth + 1, where, found, counts)
        return
    canonical = dumps(node)
    counts[canonical] = counts.get(canonical, 0) + 1
    if key == "$mt":
        (prop, pattern), = value.items()
        if not _safe_pattern(pattern):
            found.append(f"{where}: unsafe regex {pattern!r} on {prop}")


def _safe_pattern(pattern: str) -> bool:
    """Only what this module writes: literal characters, one-character classes, [0-9], a final .*."""
    body = pattern[:-2] if pattern.endswith(".*") else pattern
    tokens = re.findall(r"\[0-9\]|\[[^\[\]\\^]\]|[^\[\]\\^.*+?|(){}$]", body)
    return "".join(tokens) == body and len(tokens) <= 64


def fact_properties(catalogue: model.Catalogue) -> list[str]:
    """Every property a fact can carry: attributes, accumulators per clause, guard and date."""
    names = list(derive.ATTRIBUTE_TYPES) + ["kind", AS_OF]
    for clause in catalogue.executable():
        names += [accumulator_property(a, clause.id) for a in sorted(clause.accumulators())]
    return names


def accumulator_reads(catalogue: model.Catalogue) -> list[tuple[str, str]]:
    """(clause id, accumulator) pairs the compiled rules read as per-clause properties."""
    return [(c.id, a) for c in catalogue.executable() for a in sorted(c.accumulators())]


def fact(
    attributes: Mapping[str, Any],
    as_of: dt.date,
    reads: Iterable[tuple[str, str]],
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The firm fact: checked attributes (absent ones left out), the guard, the date, accumulators."""
    out = {name: value for name, value in attributes.items() if value is not None}
    for clause_id, attr in reads:
        value = (overrides or {}).get(clause_id, {}).get(attr, attributes.get(attr))
        if value is not None:
            out[accumulator_property(attr, clause_id)] = value
    out.update(GUARD)
    out[AS_OF] = day(as_of)
    return out


_SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_@-]*")


def _key(name: str) -> str:
    return f'"{name}":' if _SAFE_KEY.fullmatch(name) else dumps(name) + ":"


def _value(value: Any) -> str:
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        return json.dumps(value, ensure_ascii=False)
    if kind is int and -CLAMP <= value <= CLAMP:
        return str(value)
    return number(value)


class FactEncoder:
    """``dumps(fact(...))`` for one catalogue's rules, keeping only the properties they test.

    A property no rule tests cannot change what fires, so leaving it out changes nothing but the
    time it takes to write the fact and for the engine to parse it. Key text is built once and
    string values (regions, industry codes, levels: a few thousand distinct ones) are cached;
    a backfill encodes millions of facts.
    """

    def __init__(self, catalogue: model.Catalogue, reads: Iterable[tuple[str, str]]) -> None:
        tested = {leaf.attr for clause in catalogue.executable() for leaf in clause.leaves()} | {"region"}
        # Rules test accumulators per clause (``attr@clause``), never the firm-wide total.
        self.names = frozenset(tested - {model.GRANTED})
        self.reads = tuple(reads)
        self._keys = {name: _key(name) for name in self.names}
        self._read_keys = tuple((clause_id, attr, _key(accumulator_property(attr, clause_id))) for clause_id, attr in self.reads)
        self._head = "{" + "".join(f"{_key(k)}{_value(v)}," for k, v in GUARD.items()) + _key(AS_OF)
        self._strings: dict[str, str] = {}

    def encode(
        self, attributes: Mapping[str, Any], as_of: dt.date, overrides: Mapping[str, Mapping[str, Any]] | None = None
    ) -> str:
        """The fact for checked ``attributes`` as of ``as_of``, with per-clause accumulator ``overrides``."""
        keys, parts = self._keys, []
        for name, value in attributes.items():
            key = keys.get(name)
            if key is not None and value is not None:
                parts.append(key + (self._string(value) if type(value) is str else _value(value)))
        for clause_id, attr, key in self._read_keys:
            override = overrides.get(clause_id) if overrides else None
            value = override.get(attr, attributes.get(attr)) if override else attributes.get(attr)
            if value is not None:
                parts.append(key + _value(value))
        return self._head + str(day(as_of)) + ("," + ",".join(parts) if parts else "") + "}"

    def _string(self, value: str) -> str:
        text = self._strings.get(value)
        if text is None:
            text = json.dumps(value, ensure_ascii=False)
            if len(self._strings) < constants.FACT_STRINGS_CACHED:
                self._strings[value] = text
        return text


def number(value: int | float) -> str:
    """A JSON number the engine parses: clamped to ±CLAMP, never in exponent notation."""
    value = max(-CLAMP, min(CLAMP, value))
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    text = repr(value)
    return format(decimal.Decimal(text), "f") if "e" in text or "E" in text else text


def dumps(value: Any) -> str:
    """JSON for the engine (see :func:`number`); strings with ensure_ascii=False."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot encode {value!r} for the engine")
