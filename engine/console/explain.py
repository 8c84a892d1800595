"""A decision's explanation, a clause's rule and a firm's profile in words, from the glossary.

Officers read conditions as sentences with the words of the text behind them ("是否为小微企业" becomes
"小微企业（依据：“服务业小微企业”）：是 ✓"), groups as 满足以下全部条件 / 满足以下任一条件, values
with their units and separators, regions and industries by name with the code in small type, and a
benefit's formula with the attributes' names in place of code. Nothing here is a code or English
unless the glossary lacks it (tests keep it complete), in which case the code is shown rather than hidden.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from engine.core import glossary
from engine.core.regions import display_name

_G = glossary.load()
#: A position in a condition tree as the explanation records it: ``all[1].any[0]``.
_STEP = re.compile(r"(all|any)\[(\d+)\]")
#: How a group is headed (all / any).
GROUP_HEADINGS = _G.table("group")
#: A condition's verdict as the sentence ends.
ANSWERS = _G.table("answer")
_TEXT = glossary.Term("", "text")


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One condition: what it asks (`claim`), the text's words for it, and how the firm fared."""

    claim: Markup
    quote: str | None
    verdict: str | None = None
    seen: Markup | None = None

    @property
    def answer(self) -> str:
        return ANSWERS.get(self.verdict or "", "")


@dataclasses.dataclass(frozen=True)
class Group:
    """An all / any group of conditions."""

    kind: str
    children: tuple[Sentence | Group, ...]

    @property
    def heading(self) -> str:
        return GROUP_HEADINGS[self.kind]


def attribute_term(attr: str) -> glossary.Term:
    """The glossary's entry for a rule attribute; an unknown one reads as its code."""
    return _G.attributes.get(attr) or glossary.Term(attr, "text")


def attribute_label(attr: str) -> str:
    """A rule attribute's Chinese label (its code if the glossary lacks it)."""
    return attribute_term(attr).label


def _coded(kind: str, name: str | None, code: str) -> Markup:
    shown = Markup('<span class="{}-name">{}</span> ').format(kind, name) if name else Markup("")
    return shown + Markup('<small class="code muted">{}</small>').format(code)


def value_html(term: glossary.Term, value: Any) -> Markup:
    """A value in `term`'s unit; regions and industries by name with the code in small type."""
    if isinstance(value, (list, tuple)) and value:
        return Markup("、").join(value_html(term, item) for item in value)
    if isinstance(value, str) and value and term.enum is None:
        if term.unit == "region":
            return _coded("region", display_name(value), value)
        if term.unit == "industry":
            return _coded("industry", glossary.industry_name(value), value)
    return escape(_G.value_text(term, value))


def fact(attr: str, value: Any) -> tuple[str, Markup]:
    """A fact of a decision (an attribute's value): its label and the value in words."""
    return attribute_label(attr), value_html(attribute_term(attr), value)


def field(path: str, value: Any) -> tuple[str, Markup]:
    """A profile field (a dotted path): its label and the value in words; an unknown path as it is."""
    found = _G.field(path)
    if found is None:
        return path, value_html(_TEXT, value)
    label, term = found
    return label, value_html(term, value)


def _claim(attr: str, op: str, required: Any) -> Markup:
    term = attribute_term(attr)
    if term.unit == "yes_no" and op == "eq" and isinstance(required, bool):
        subject = re.sub(r"^是否(为)?", "", term.label)
        return escape(subject) if required else escape(f"{subject}（要求：否）")
    words = _G.table("op_date") if term.unit == "date" and op in _G.table("op_date") else _G.table("op")
    return escape(term.label) + escape(words.get(op, op)) + value_html(term, required)


def since_words(day: dt.date | str) -> str:
    """The day a dated parameter's value holds from, as read: ``自2022年7月1日起``."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return f"自{day.year}年{day.month}月{day.day}日起"


#: Said of a condition whose dated threshold has no value on the judging date.
NO_VALUE = "（判定日没有适用的规定数值）"


def sentence(entry: Mapping[str, Any], quote: str | None = None) -> Sentence:
    """A condition of an explanation (``{attr, op, required, seen, verdict, quote}``) as a sentence; a
    threshold that is a dated parameter with the day its value holds from (``from``), or said to have none."""
    attr, op = str(entry.get("attr")), str(entry.get("op"))
    required = entry["required"] if "required" in entry else entry.get("value")
    term = attribute_term(attr)
    plain_yes = term.unit == "yes_no" and op == "eq" and required is True
    seen = entry.get("seen")
    claim = _claim(attr, op, required)
    if entry.get("from"):
        claim += escape(f"（{since_words(str(entry['from']))}）")
    elif entry.get("unset"):
        claim = escape(attribute_label(attr)) + escape(NO_VALUE)
    return Sentence(claim, entry.get("quote") or quote, entry.get("verdict"),
                    None if plain_yes or seen is None or "verdict" not in entry else value_html(term, seen))


def _steps(path: Any) -> list[tuple[str, int]]:
    return [(kind, int(index)) for kind, index in _STEP.findall(str(path or ""))]


def _collapse(node: dict[str, Any]) -> Sentence | Group:
    if "sentence" in node:
        return node["sentence"]
    children = tuple(_collapse(node["children"][i]) for i in sorted(node["children"]))
    return children[0] if len(children) == 1 else Group(node["kind"] or "all", children)


def conditions(entries: Sequence[Mapping[str, Any]], quotes: Mapping[str, str] | None = None) -> Sentence | Group | None:
    """The explanation's conditions (flat, each with its ``path`` in the tree) as nested groups of
    sentences; `quotes` (path → words) supplies the text's words where an older decision lacks them."""
    if not entries:
        return None
    root: dict[str, Any] = {"kind": None, "children": {}}
    for order, entry in enumerate(entries):
        steps = _steps(entry.get("path")) or [("all", 10_000 + order)]
        node = root
        for depth, (kind, index) in enumerate(steps):
            node["kind"] = node["kind"] or kind
            if depth == len(steps) - 1:
                node["children"][index] = {"sentence": sentence(entry, (quotes or {}).get(str(entry.get("path"))))}
            else:
                node = node["children"].setdefault(index, {"kind": None, "children": {}})
    return _collapse(root)


def clause_conditions(tree: Any) -> Sentence | Group | None:
    """A clause's condition tree (engine.judging.catalogue.model) as groups of sentences, without verdicts."""
    if tree is None:
        return None
    if hasattr(tree, "children"):
        children = tuple(c for c in (clause_conditions(child) for child in tree.children) if c is not None)
        return children[0] if len(children) == 1 else Group(tree.kind, children)
    if getattr(tree, "dated", ()):
        # A dated threshold: each value with the day it holds from.
        term = attribute_term(tree.attr)
        words = _G.table("op_date") if term.unit == "date" and tree.op in _G.table("op_date") else _G.table("op")
        values = Markup("；").join(value_html(term, v.value) + escape(f"（{since_words(v.since)}）") for v in tree.dated)
        return Sentence(escape(term.label) + escape(words.get(tree.op, tree.op)) + values, tree.quote)
    return sentence({"attr": tree.attr, "op": tree.op, "required": tree.value}, tree.quote)


def leaf_quotes(clause: Any) -> dict[str, str]:
    """Path → the text's words, for each condition of a clause that has them."""
    return {leaf.path: leaf.quote for leaf in clause.leaves() if leaf.quote} if clause is not None else {}


_BINARY = {ast.Mult: "×", ast.Div: "÷", ast.Add: "＋", ast.Sub: "－"}
_COMPARE = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_CALLS = {"min": "中的较小者", "max": "中的较大者"}


def _words(node: ast.AST, nested: bool = False) -> str:
    if isinstance(node, ast.Expression):
        return _words(node.body)
    if isinstance(node, ast.Name):
        return attribute_label(node.id)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{int(value):,}" if value == int(value) else f"{value:,}"
        return str(value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        text = f"{_words(node.left, True)} {_BINARY[type(node.op)]} {_words(node.right, True)}"
        return f"（{text}）" if nested else text
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALLS:
        return f"（{'、'.join(_words(arg, True) for arg in node.args)}{_CALLS[node.func.id]}）"
    if isinstance(node, ast.IfExp):
        return f"（{_condition_words(node.test)}时取 {_words(node.body)}，否则取 {_words(node.orelse)}）"
    if (isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops)) or isinstance(node, ast.BoolOp) \
            or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
        return _condition_words(node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return f"{'－' if isinstance(node.op, ast.USub) else ''}{_words(node.operand, True)}"
    raise ValueError(f"no words for {ast.dump(node)}")


def _condition_words(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"{attribute_label(node.id)}为“是”"
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        sides = [node.left, *node.comparators]
        return "且".join(f"{_words(left)}{_G.table('op')[_COMPARE[type(op)]]}{_words(right)}"
                        for left, op, right in zip(sides, node.ops, sides[1:], strict=False))
    if isinstance(node, ast.BoolOp):
        joiner = "且" if isinstance(node.op, ast.And) else "或"
        return f"（{joiner.join(_condition_words(value) for value in node.values)}）"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return f"并非{_condition_words(node.operand)}"
    return f"{_words(node)}不为零"


#: How a formula reads a dated parameter with no value on the day (``unset`` of an amount's explanation).
UNSET_VALUE = "规定数值（判定日无）"


def formula_words(text: str, unset: Iterable[str] = ()) -> str:
    """A benefit formula with each attribute's name, × ÷, and min / max / if said in Chinese; the
    formula as written if it holds something else (the rule loader allows only these). ``unset``: dated
    parameters the formula still names, having no value on the judging date."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
        names = frozenset(unset)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in names:
                node.id = UNSET_VALUE  # read by attribute_label as itself: not an attribute of the glossary
        return _words(tree)
    except (SyntaxError, ValueError):
        return text


def formula_schedule(schedule: Sequence[tuple[dt.date, str | None]]) -> list[tuple[str, str]]:
    """A formula whose parameters are dated (``Benefit.schedule``), per day it changes: when, and the
    formula in words with the values then in force (or that none is)."""
    return [(since_words(day), formula_words(text) if text is not None else "没有适用的规定数值，不计算金额")
            for day, text in schedule]


def inputs(values: Mapping[str, Any]) -> list[tuple[str, Markup]]:
    """A formula's inputs, each by its label with its value in words."""
    return [fact(name, value) for name, value in values.items()]


def labels_of(attrs: Iterable[str]) -> list[str]:
    """Attributes (e.g. the data missing for a decision) by their labels."""
    return [attribute_label(attr) for attr in attrs]
