"""What backs a rule: the words of the text behind its mode, its dates, its conditions and its numbers.

Checked by the loader (rules/README.md, "Basis"), each problem with its key path:

* ``basis.mode`` — an ``auto_grant`` clause quotes its own words that make the benefit automatic
  (:data:`model.MODE_REASONS`), and every condition of it is decided by data (it is executable);
* ``basis.valid_from`` / ``basis.valid_to`` — where a date comes from: words of the document,
  the document's own date (``document``), or ``unstated`` (the text states no end: the date is null).
  A document states both; a clause only where its date differs from the document's;
* a condition's ``quote`` (required) — the clause's words it implements (the document's for its scope);
* ``params`` / ``benefit.params`` — every number of a condition (but 0) or of a formula, named, with
  the words that state it; a number the text changes within the window, as dated values (each from a day);
* ``notes`` — readings answered in the file, each with its quotation; ``application_deadline`` —
  a deadline to apply only where the text states one;
* :func:`figures` — what ``rules lint`` prints per document.

Quotations are compared with all whitespace removed (the extraction broke lines mid-word).
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from engine.judging import derive
from engine.judging.catalogue import checker, conditions, formula, model

_WS = re.compile(r"\s+")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def squeeze(text: str) -> str:
    """``text`` without whitespace: how quotations are compared."""
    return _WS.sub("", text)


def quoted(quote: str, text: str | None) -> bool:
    """Whether ``quote`` occurs in ``text``, whitespace ignored (True when the text is not known)."""
    return text is None or squeeze(quote) in squeeze(text)


def mode_basis(
    check: checker.Checker, raw: Any, where: str, mode: str | None, clause_text: str | None, executable: bool | None
) -> model.ModeBasis | None:
    """``basis.mode`` of a clause: required of ``auto_grant``, refused of any other mode. ``executable``
    None: the conditions were invalid (already reported), so that check is left out."""
    if mode != "auto_grant":
        if raw is not None:
            check.fail(where, f"only an auto_grant clause states why it is automatic (mode is {mode})")
        return None
    if raw is None:
        check.fail(where, "an auto_grant clause needs the clause's own words that make the benefit automatic "
                          "({quote, reason}); without them it is apply or inform")
        return None
    if not check.keys(raw, where, {"quote", "reason"}, set()):
        return None
    quote = check.text(raw["quote"], f"{where}.quote")
    reason = check.enum(raw["reason"], f"{where}.reason", tuple(model.MODE_REASONS), "reason")
    if quote is None or reason is None:
        return None
    if not quoted(quote, clause_text):
        check.fail(f"{where}.quote", "not found in the clause's text (whitespace ignored)")
        return None
    words = model.MODE_REASONS[reason]
    if not any(word in squeeze(quote) for word in words):
        check.fail(f"{where}.quote", f"says nothing that makes it automatic ({reason}: one of {', '.join(words)})")
        return None
    if executable is False:
        check.fail(where, "an auto_grant clause must be decided by data alone: conditions and no needs")
        return None
    return model.ModeBasis(quote=quote, reason=reason)


def date_basis(
    check: checker.Checker, raw: Any, where: str, value: dt.date | None, *,
    document: dt.date | None | bool, source_text: str | None,
) -> model.DateBasis | None:
    """Where the date ``value`` comes from. ``document`` is the document's same date for a clause
    (False for the document itself, which cannot cite itself)."""
    if raw in ("document", "unstated"):
        if raw == "document" and (document is False or value != document):
            check.fail(where, "document: the date must be the document's own" if document is not False
                       else "a document's date comes from its text (a quote) or is unstated")
            return None
        if raw == "unstated" and value is not None:
            check.fail(where, f"unstated: the text states no date, so the date must be null, not {value}")
            return None
        return model.DateBasis(source=raw)
    if not check.keys(raw, where, {"quote"}, {"note"}):
        return None
    quote = check.text(raw["quote"], f"{where}.quote")
    note = check.text(raw["note"], f"{where}.note") if "note" in raw else None
    if quote is None or ("note" in raw and note is None):
        return None
    if not quoted(quote, source_text):
        check.fail(f"{where}.quote", "not found in the document's text (whitespace ignored)")
        return None
    return model.DateBasis(source="quote", quote=quote, note=note)


#: The dates a basis is given for.
DATE_KEYS = ("valid_from", "valid_to")


def date_bases(
    check: checker.Checker, raw: Any, where: str, values: Mapping[str, Any], document: model.Document | None, *,
    required: bool, source_text: str | None,
) -> tuple[model.DateBasis | None, model.DateBasis | None]:
    """The basis of ``valid_from`` and ``valid_to``: a document (``document`` None) states both; a clause,
    those differing from its document's, the others being the document's own (inherited)."""
    keys = set(DATE_KEYS) | ({"mode"} if document is not None else set())
    if raw is not None and not check.keys(raw, where, set(), keys):
        return None, None
    raw = raw or {}
    found: list[model.DateBasis | None] = []
    for key in DATE_KEYS:
        value = values[key]
        inherited = getattr(document, key) if document is not None else False
        if key not in raw:
            if required or value != inherited:
                check.fail(f"{where}.{key}", f"{value or 'null'}: say where this date comes from "
                                             "(quote, document or unstated)")
            found.append(None if document is None else getattr(document, "from_basis" if key == "valid_from"
                                                                   else "to_basis"))
            continue
        found.append(date_basis(check, raw[key], f"{where}.{key}", value, document=inherited, source_text=source_text))
    return found[0], found[1]


def deadline(check: checker.Checker, raw: Any, where: str, mode: str | None, words: str | None) -> Any:
    """``application_deadline: {date, quote}``: only of an apply clause, its words found in the clause."""
    if mode != "apply":
        check.fail(where, f"only a clause of mode apply has a deadline to apply (mode is {mode})")
    if not check.keys(raw, where, {"date", "quote"}, set()):
        return None
    quote = check.text(raw["quote"], f"{where}.quote")
    if quote is not None and not quoted(quote, words):
        check.fail(f"{where}.quote", "not found in the clause's text (whitespace ignored)")
    return check.date(raw["date"], f"{where}.date")


def leaf_quotes(
    check: checker.Checker, tree: model.Condition | None, where: str, clause_text: str | None, document_text: str | None
) -> None:
    """Every condition's ``quote`` is the clause's own words, or, for a condition the whole document
    sets (its scope: 中小企业 in its title or preamble), the document's words."""
    for leaf in model.iter_leaves(tree) if tree is not None else ():
        if leaf.quote is not None and not quoted(leaf.quote, clause_text) \
                and (clause_text is None or not quoted(leaf.quote, document_text)):
            check.fail(f"{where}.{leaf.path}.quote", "not found in the clause's text (whitespace ignored), "
                                                      "nor in the document's")


def params(
    check: checker.Checker, raw: Any, where: str, clause_text: str | None, document_text: str | None = "", *,
    window: tuple[Any, Any] = (None, None),
) -> tuple[model.Param, ...] | None:
    """``params`` / ``benefit.params``: name → ``{value, quote}`` (holding over the whole window, from its
    ``valid_from``) or a list of dated values ``{from, value, quote}`` (optionally ``until``), ascending,
    not overlapping, each ``from`` inside ``window`` (the clause's ``valid_from``, ``valid_to``). Each quote
    is found in the clause (for the clause's own params, or in the document where the number is the
    document's, e.g. its effective date). ``document_text`` "" (the default): the clause's words only;
    None: the document's text is not read."""
    if not isinstance(raw, Mapping) or not raw:
        check.fail(where, "must be a mapping of parameter names to {value, quote} or a list of {from, value, quote}")
        return None
    start = window[0] if isinstance(window[0], dt.date) else None
    out, ok = [], True
    for name, item in raw.items():
        at = f"{where}.{name}"
        if not isinstance(name, str) or not _NAME.match(name) or name in derive.ATTRIBUTE_TYPES:
            check.fail(at, "a parameter name is snake_case and not an attribute's name")
            ok = False
            continue
        if isinstance(item, list):
            values = _dated(check, item, at, (clause_text, document_text), window)
            if values is None:
                ok = False
            else:
                out.append(model.Param(name=name, values=values, dated=True))
            continue
        if not check.keys(item, at, {"value", "quote"}, set()):
            ok = False
            continue
        number = _number(check, item, at, (clause_text, document_text))
        if number is None:
            ok = False
        elif ok:
            out.append(model.Param(name=name, values=(model.ParamValue(*number, since=start or dt.date.min),)))
    return tuple(out) if ok else None


def _number(
    check: checker.Checker, item: Mapping[str, Any], at: str, texts: tuple[str | None, str | None]
) -> tuple[float, str] | None:
    """``value`` and ``quote`` of a parameter's value: a number, and words found in the clause (or document)."""
    value, quote = item["value"], check.text(item["quote"], f"{at}.quote")
    problem = conditions.typed(float, value)
    if problem:
        check.fail(f"{at}.value", problem)
    if quote is not None and not quoted(quote, texts[0]) and not quoted(quote, texts[1]):
        check.fail(f"{at}.quote", "not found in the clause's text (whitespace ignored)")
        return None
    return None if problem or quote is None else (value, quote)


def _dated(
    check: checker.Checker, raw: list[Any], at: str, texts: tuple[str | None, str | None], window: tuple[Any, Any]
) -> tuple[model.ParamValue, ...] | None:
    """A dated parameter's values; each holds from its ``from`` to its ``until``, else to the day before the
    next value's ``from``, else to the end of the window."""
    start = window[0] if isinstance(window[0], dt.date) else None
    end = window[1] if isinstance(window[1], dt.date) else None
    shown = f"[{start or '?'}, {end or 'open'}]"
    if not raw:
        check.fail(at, "a dated parameter is a non-empty list of {from, value, quote} (optionally until)")
        return None
    found: list[model.ParamValue] = []
    ok = True
    for i, item in enumerate(raw):
        here = f"{at}[{i}]"
        if not check.keys(item, here, {"from", "value", "quote"}, {"until"}):
            ok = False
            continue
        number = _number(check, item, here, texts)
        since = check.date(item["from"], f"{here}.from")
        until = check.date(item["until"], f"{here}.until") if "until" in item else None
        if number is None or since is False or until is False:
            ok = False
            continue
        problems = len(check.problems)
        if (start and since < start) or (end and since > end):
            check.fail(f"{here}.from", f"{since} is outside the clause's window {shown}")
        if until is not None and until < since:
            check.fail(f"{here}.until", f"{until} is before its from {since}")
        elif until is not None and end and until > end:
            check.fail(f"{here}.until", f"{until} is after the clause's valid_to {end}")
        if found and since <= found[-1].since:
            check.fail(f"{here}.from", f"{since} is not after the previous value's from {found[-1].since} "
                                       "(dated values are listed in ascending order)")
        elif found and found[-1].until is not None and since <= found[-1].until:
            check.fail(f"{here}.from", f"{since} overlaps the previous value, which holds until {found[-1].until}")
        ok = ok and len(check.problems) == problems
        found.append(model.ParamValue(*number, since=since, until=until))
    if not ok:
        return None
    return tuple(
        dataclasses.replace(value, until=after.since - dt.timedelta(days=1)) if value.until is None and after else value
        for value, after in zip(found, [*found[1:], None])
    )


def formula_params(
    check: checker.Checker, text: str, found: tuple[model.Param, ...], where: str
) -> tuple[str, frozenset[str]]:
    """A benefit's ``formula`` and ``params`` (key path ``where``, the benefit): no number written in the
    formula, every parameter used. The formula with the values holding over the whole window written in
    (dated ones stay named: :func:`schedule` writes them in per day) and the attributes it reads."""
    try:
        numbers = literals(text)
        if numbers:
            check.fail(f"{where}.formula", f"numbers {numbers} written in the formula: name each in params "
                                           "with the clause's words that state it")
        unused = {p.name for p in found} - formula.names(text)
        if unused:
            check.fail(f"{where}.params", f"not used by the formula: {', '.join(sorted(unused))}")
        dated = frozenset(p.name for p in found if p.dated)
        text = substitute(text, {p.name: p.value for p in found if not p.dated})
        formula.validate(text, derive.ATTRIBUTE_TYPES.keys() | dated)
        return text, formula.names(text) - dated
    except formula.FormulaError as exc:
        check.fail(f"{where}.formula", f"bad formula {text!r}: {exc}")
        return text, frozenset()


def literals(text: str) -> list[float]:
    """The numbers written in a formula (each should be a named parameter)."""
    return [n.value for n in ast.walk(formula.parse(text)) if isinstance(n, ast.Constant)]


def substitute(text: str, values: Mapping[str, float]) -> str:
    """``text`` with each parameter name of ``values`` replaced by its value (what the evaluators run)."""

    class _Put(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:  # noqa: N802 - ast's naming
            return ast.copy_location(ast.Constant(values[node.id]), node) if node.id in values else node

    formula.parse(text)  # raises FormulaError on anything outside the whitelist
    # A fresh tree: formula.parse caches its trees, and the transformer changes the one it is given.
    return ast.unparse(_Put().visit(ast.parse(text.strip(), mode="eval")))


def schedule(text: str, found: tuple[model.Param, ...]) -> tuple[tuple[dt.date, str | None], ...]:
    """:attr:`model.Benefit.schedule`: from each day a dated parameter of ``text`` changes value, ``text``
    with the values in force written in, or None where one has no value (empty when none is dated)."""
    dated = [p for p in found if p.dated]
    out = []
    for day in model.turns(v for p in dated for v in p.values):
        held = {p.name: p.on(day) for p in dated}
        out.append((day, None if None in held.values()
                    else substitute(text, {name: v.value for name, v in held.items() if v is not None})))
    return tuple(out)


def notes(check: checker.Checker, raw: Any, where: str, text: str | None) -> tuple[model.Note, ...]:
    """``notes``: a list of ``{quote, note}``, each quote found in ``text`` (the clause's or the document's)."""
    if not isinstance(raw, list) or not raw:
        check.fail(where, "must be a non-empty list of {quote, note}")
        return ()
    out = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not check.keys(item, at, {"quote", "note"}, set()):
            continue
        quote, note = check.text(item["quote"], f"{at}.quote"), check.text(item["note"], f"{at}.note")
        if quote is not None and not quoted(quote, text):
            check.fail(f"{at}.quote", "not found in the text (whitespace ignored)")
        elif quote is not None and note is not None:
            out.append(model.Note(quote=quote, note=note))
    return tuple(out)


def figures(catalogue: model.Catalogue) -> list[dict[str, Any]]:
    """Per document: clause entries, firm-facing, executable, auto_grant (and with a basis),
    conditions (and with their words): what ``rules lint`` prints and the README shows."""
    out = []
    for document in catalogue.documents:
        clauses = [c for c in catalogue.clauses if c.slug == document.slug]
        leaves = [leaf for c in clauses for leaf in c.leaves()]
        auto = [c for c in clauses if c.mode == "auto_grant"]
        out.append({
            "slug": document.slug,
            "clauses": len(clauses),
            "cites": len({c.cite for c in clauses}),
            "firm_facing": sum(c.firm_facing for c in clauses),
            "executable": sum(c.executable for c in clauses),
            "auto_grant": len(auto),
            "auto_grant_with_basis": sum(c.mode_basis is not None for c in auto),
            "conditions": len(leaves),
            "conditions_with_basis": sum(leaf.quote is not None for leaf in leaves),
        })
    return out


def figure_line(row: Mapping[str, Any]) -> str:
    """One document's figures as ``rules lint`` prints them."""
    return (f"{row['slug']}: {row['cites']} clauses ({row['clauses']} rules, a clause of several parts one rule each), "
            f"{row['firm_facing']} firm-facing, "
            f"{row['executable']} executable, auto_grant {row['auto_grant_with_basis']}/{row['auto_grant']} with basis, "
            f"conditions {row['conditions_with_basis']}/{row['conditions']} with basis")
