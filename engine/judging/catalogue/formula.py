"""A safe evaluator for benefit formulas (rules/README.md, "Benefit formulas").

A formula is parsed with :mod:`ast` and only a whitelist of node types is accepted: numbers,
attribute names, ``+ - * /``, unary ``-``/``+``, parentheses, ``min(...)``/``max(...)``,
``a if cond else b``, comparisons and ``and``/``or``/``not``. Nothing is ever passed to
``eval``: the tree is walked by :func:`evaluate`, so a formula cannot call, import or read
anything but the attributes it is given.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
import operator
from collections.abc import Collection, Mapping
from typing import Any

#: Longest formula accepted and deepest tree: far beyond any clause, well inside recursion limits.
MAX_LENGTH = 500
MAX_DEPTH = 32
FUNCTIONS = {"min": min, "max": max}

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_CMPOPS = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


class FormulaError(ValueError):
    """A formula that is not valid Python syntax or uses something outside the whitelist."""


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of evaluating a formula.

    ``amount`` is None when an input is missing (named in ``missing``) or the arithmetic fails
    (``error``, e.g. division by zero); ``inputs`` holds every attribute value the evaluation read.
    """

    amount: float | None
    inputs: Mapping[str, Any]
    missing: tuple[str, ...] = ()
    error: str | None = None


class _Missing:
    """Stands for a value that depends on a missing input; it absorbs every operation."""

    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _Missing()


@functools.lru_cache(maxsize=256)
def parse(text: str, allowed: frozenset[str] | None = None) -> ast.Expression:
    """Parse and check ``text``; ``allowed`` limits the names (None: any identifier).

    Raises :class:`FormulaError` naming the first offending construct.
    """
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("empty formula")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"syntax error: {exc.msg}") from None
    _check(tree.body, allowed, 1)
    return tree


def _check(node: ast.AST, allowed: frozenset[str] | None, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise FormulaError(f"formula nested deeper than {MAX_DEPTH}")
    deeper = depth + 1
    if isinstance(node, ast.Constant):
        # bool is an int subclass; True/False are not numbers in a formula.
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(f"constant {node.value!r} is not a number")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise FormulaError(f"{node.id} used other than as a call")
        if allowed is not None and node.id not in allowed:
            raise FormulaError(f"unknown name {node.id!r}")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise FormulaError(f"operator {type(node.op).__name__} is not allowed (only + - * /)")
        _check(node.left, allowed, deeper)
        _check(node.right, allowed, deeper)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        _check(node.operand, allowed, deeper)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise FormulaError("only min(...) and max(...) may be called")
        if node.keywords or len(node.args) < 2 or any(isinstance(a, ast.Starred) for a in node.args):
            raise FormulaError(f"{node.func.id}() takes two or more plain arguments")
        for arg in node.args:
            _check(arg, allowed, deeper)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check(part, allowed, deeper)
    elif isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
        for part in (node.left, *node.comparators):
            _check(part, allowed, deeper)
    elif isinstance(node, ast.BoolOp):
        for part in node.values:
            _check(part, allowed, deeper)
    else:
        raise FormulaError(f"{type(node).__name__} is not allowed in a formula")


def names(text: str) -> frozenset[str]:
    """The attribute names ``text`` reads (function names excluded)."""
    tree = parse(text)
    return frozenset(
        n.id for n in ast.walk(tree)
        if isinstance(n, ast.Name) and n.id not in FUNCTIONS
    )


def validate(text: str, allowed: Collection[str]) -> None:
    """Raise :class:`FormulaError` unless ``text`` parses and reads only ``allowed`` names."""
    parse(text, frozenset(allowed))


def evaluate(text: str, values: Mapping[str, Any], *, decimals: int = 2) -> Result:
    """Evaluate ``text`` over ``values`` (attribute name → value; absent = missing).

    Only the branches actually taken are read, so ``x if c else y`` needs ``y`` only when ``c``
    is false; when ``c`` itself is missing both branches are read to name everything missing.
    The amount is rounded to ``decimals`` places (fen for yuan).
    """
    tree = parse(text)
    state = _State(values)
    try:
        value = state.eval(tree.body)
    except ZeroDivisionError:
        return Result(None, dict(state.inputs), (), "division by zero")
    if value is _MISSING:
        return Result(None, dict(state.inputs), tuple(sorted(state.missing)))
    amount = float(value)
    if not math.isfinite(amount):
        return Result(None, dict(state.inputs), (), "not a finite number")
    return Result(round(amount, decimals), dict(state.inputs))


class _State:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.inputs: dict[str, Any] = {}
        self.missing: set[str] = set()

    def eval(self, node: ast.AST) -> Any:  # noqa: C901 - one branch per whitelisted node type
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            value = self.values.get(node.id)
            if value is None:
                self.missing.add(node.id)
                return _MISSING
            self.inputs[node.id] = value
            return value
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left), self.eval(node.right)
            if _MISSING in (left, right):
                return _MISSING
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            operand = self.eval(node.operand)
            if operand is _MISSING:
                return _MISSING
            if isinstance(node.op, ast.Not):
                return not operand
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.Call):
            args = [self.eval(a) for a in node.args]
            return _MISSING if _MISSING in args else FUNCTIONS[node.func.id](args)
        if isinstance(node, ast.IfExp):
            test = self.eval(node.test)
            if test is _MISSING:
                # Read both branches only to name everything else that is missing.
                self.eval(node.body)
                self.eval(node.orelse)
                return _MISSING
            return self.eval(node.body if test else node.orelse)
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = self.eval(right_node)
                if _MISSING in (left, right):
                    return _MISSING
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.BoolOp):
            # Kleene logic: a false operand decides `and`, a true one `or`, even after a
            # missing one; otherwise a missing operand leaves the whole undecided.
            is_and = isinstance(node.op, ast.And)
            result: Any = None
            undecided = False
            for part in node.values:
                result = self.eval(part)
                if result is _MISSING:
                    undecided = True
                elif bool(result) != is_and:
                    return result
            return _MISSING if undecided else result
        raise FormulaError(f"{type(node).__name__} is not allowed in a formula")  # parse() forbids it
