"""Strict loading of the document folders ``rules/<slug>/`` (schema: rules/README.md) into :mod:`engine.catalogue.model`.

A document is one folder: ``clauses.yaml`` (its metadata and clauses), ``source.txt`` (the
text every quotation is checked against), ``scenarios.yaml`` and optional ``templates/``.
Every problem found is collected, each naming the file and the key path, e.g.
``rules/yunnan-2022/clauses.yaml: clauses[3].conditions.all[1].attr: unknown attribute 'foo'``,
and :func:`load` raises one :class:`CatalogueError` listing them all: a rule file is fixed
in one pass, not one error at a time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from engine.core import regions
from engine.judging.catalogue import basis, checker, conditions, model, yamlio

RULES_DIR_VAR = "POLICY_PUSH_RULES_DIR"
MEASURES_DIR_VAR = "POLICY_PUSH_MEASURES_DIR"
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The files of one document folder.
CLAUSES_FILE = "clauses.yaml"
SOURCE_FILE = "source.txt"

_DOC_KEYS = {"slug", "title", "number", "issuer", "jurisdiction", "valid_from", "valid_to", "basis"}
_DOC_OPTIONAL = {"notes"}
_CLAUSE_REQUIRED = {
    "id", "cite", "title", "text", "category", "firm_facing", "mode", "agencies",
    "jurisdiction", "valid_from", "valid_to",
}
_CLAUSE_OPTIONAL = {"conditions", "benefit", "needs", "application", "sms", "part", "basis", "notes",
                    "application_deadline", "params"}
_BENEFIT_REQUIRED = {"kind", "unit", "description"}
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_WS = re.compile(r"\s+")


class CatalogueError(Exception):
    """The rule files have problems; ``problems`` lists every one, file and key path first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the catalogue:\n" + "\n".join(self.problems))


def rules_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The rules directory: ``path``, else $POLICY_PUSH_RULES_DIR, else the repository's rules/."""
    return Path(path or os.environ.get(RULES_DIR_VAR) or REPO_ROOT / "rules")


def measures_dir(path: str | os.PathLike[str] | None = None) -> Path | None:
    """A folder of ``<slug>.txt`` replacing each document's own source.txt: ``path``, else
    $POLICY_PUSH_MEASURES_DIR, else None (the usual case: every document brings its text)."""
    chosen = path or os.environ.get(MEASURES_DIR_VAR)
    return Path(chosen) if chosen else None


def document_dirs(rules: str | os.PathLike[str] | None = None) -> list[Path]:
    """The document folders of the rules directory (those holding a clauses.yaml), sorted by slug."""
    return sorted(path.parent for path in rules_dir(rules).glob(f"*/{CLAUSES_FILE}"))


def load(
    rules: str | os.PathLike[str] | None = None,
    *,
    measures: str | os.PathLike[str] | None = None,
    verify_texts: bool = True,
) -> model.Catalogue:
    """Load every document folder of the rules directory; raise :class:`CatalogueError` on any problem.

    ``verify_texts=False`` skips comparing quotations with the source texts (they change no
    verdict; a caller that only reads clause metadata saves the reading).
    """
    catalogue, problems = check(rules, measures=measures, verify_texts=verify_texts)
    if problems:
        raise CatalogueError(problems)
    return catalogue


def check(
    rules: str | os.PathLike[str] | None = None,
    *,
    measures: str | os.PathLike[str] | None = None,
    verify_texts: bool = True,
) -> tuple[model.Catalogue, list[str]]:
    """Load what can be loaded and list every problem (the catalogue is only trustworthy if none)."""
    folder = rules_dir(rules)
    texts = _Measures(folder, measures_dir(measures)) if verify_texts else None
    problems = [
        f"{folder.name}/{path.name}: a stray file; a document is a folder <slug>/ with {CLAUSES_FILE}"
        for path in sorted(folder.glob("*.yaml"))
    ]
    problems += [
        f"{folder.name}/{path.name}/: a folder without {CLAUSES_FILE}"
        for path in sorted(folder.iterdir() if folder.is_dir() else ())
        if path.is_dir() and not (path / CLAUSES_FILE).is_file() and not path.name.startswith((".", "_"))
    ]
    found_dirs = document_dirs(folder)
    if not found_dirs:
        return model.Catalogue((), ()), problems + [f"{folder}: no document folders (<slug>/{CLAUSES_FILE})"]
    documents: list[model.Document] = []
    clauses: list[model.Clause] = []
    for path in (d / CLAUSES_FILE for d in found_dirs):
        checker = _File(path, f"{folder.name}/{path.parent.name}/{CLAUSES_FILE}", texts)
        document, found = checker.run()
        problems += checker.problems
        if document is not None:
            documents.append(document)
        clauses += found
    for key in ("id", "cite"):
        seen: dict[str, str] = {}
        for clause in clauses:
            value = getattr(clause, key)
            if key == "cite" and clause.part is not None:
                value = (value, clause.part)  # the parts of one clause share its cite
            if value in seen:
                problems.append(f"{clause.slug}: {key} {value!r} duplicated (also in {seen[value]})")
            else:
                seen[value] = clause.slug
    problems += _parts_problems(clauses)
    return model.Catalogue(tuple(documents), tuple(clauses)), problems


def _parts_problems(clauses: Sequence[model.Clause]) -> list[str]:
    """Entries sharing a cite are the parts of one clause: each names its part, and they are adjacent."""
    problems, previous, done = [], None, set()
    for clause in clauses:
        if clause.cite != previous and clause.cite in done:
            problems.append(f"{clause.slug}: the parts of {clause.cite} are not next to each other")
        same = [c for c in clauses if c.cite == clause.cite]
        if len(same) > 1 and clause.part is None:
            problems.append(f"{clause.slug}: {clause.id}: {clause.cite} has several entries; each needs its part")
        done.add(clause.cite)
        previous = clause.cite
    return problems


def rule_version(raw: Mapping[str, Any]) -> str:
    """Short sha256 of a clause's canonical JSON (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


class _Measures:
    """The documents' source texts, whitespace removed (the extraction broke lines mid-word), read once."""

    def __init__(self, rules: Path, override: Path | None) -> None:
        self.rules, self.override = rules, override
        self._texts: dict[str, str | None] = {}

    def path(self, slug: str) -> Path:
        """Where the text of ``slug`` is read: its folder's source.txt unless an override folder is set."""
        return self.override / f"{slug}.txt" if self.override else self.rules / slug / SOURCE_FILE

    def label(self, slug: str) -> str:
        """The text's name in a problem message, relative to its folder."""
        return f"{slug}.txt" if self.override else f"{slug}/{SOURCE_FILE}"

    def raw(self, slug: str) -> str | None:
        """The text of ``slug`` (whitespace removed, as :meth:`get`): what a date's quote is found in."""
        return self.get(slug)

    def get(self, slug: str) -> str | None:
        if slug not in self._texts:
            try:
                self._texts[slug] = _WS.sub("", self.path(slug).read_text(encoding="utf-8"))
            except OSError:
                self._texts[slug] = None
        return self._texts[slug]


class _File(checker.Checker):
    """Checks one rule file, collecting problems as ``"<source>: <key path>: <message>"``."""

    def __init__(self, path: Path, source: str, measures: _Measures | None) -> None:
        super().__init__(source)
        self.path, self.measures = path, measures
        self.slug = path.parent.name

    def run(self) -> tuple[model.Document | None, list[model.Clause]]:
        try:
            data = yamlio.load(self.path)
        except (OSError, yaml.YAMLError, ValueError) as exc:
            self.fail("", f"cannot read YAML: {yamlio.describe(exc)}")
            return None, []
        if not self.keys(data, "", {"document", "clauses"}, set()):
            return None, []
        document = self.document(data["document"])
        if document is None:
            return None, []
        if not isinstance(data["clauses"], list) or not data["clauses"]:
            self.fail("clauses", "must be a non-empty list")
            return document, []
        if self.measures is not None and self.measures.get(self.slug) is None:
            self.fail("", f"no source text {self.measures.path(self.slug)}")
        found = [self.clause(raw, f"clauses[{i}]", document) for i, raw in enumerate(data["clauses"])]
        return document, [c for c in found if c is not None]

    # -- document and clauses ---------------------------------------------------------------

    def document(self, raw: Any) -> model.Document | None:
        if not self.keys(raw, "document", _DOC_KEYS, _DOC_OPTIONAL):
            return None
        n = len(self.problems)
        slug = self.text(raw["slug"], "document.slug")
        if slug is not None and slug != self.slug:
            self.fail("document.slug", f"{slug!r} does not match the folder name {self.slug!r}")
        values = {
            "slug": slug, "title": self.text(raw["title"], "document.title"),
            "number": self.text(raw["number"], "document.number", nullable=True),
            "issuer": self.text(raw["issuer"], "document.issuer"),
            "jurisdiction": self.code(raw["jurisdiction"], "document.jurisdiction"),
            "valid_from": self.date(raw["valid_from"], "document.valid_from"),
            "valid_to": self.date(raw["valid_to"], "document.valid_to", nullable=True),
        }
        self.window(values["valid_from"], values["valid_to"], "document")
        dates = self.dates(raw.get("basis"), "document.basis", values, None, required=True)
        notes = basis.notes(self, raw["notes"], "document.notes", self._source_text()) if "notes" in raw else ()
        if len(self.problems) > n:
            return None
        return model.Document(**values, source=self.source, from_basis=dates[0], to_basis=dates[1], notes=notes)

    def _source_text(self) -> str | None:
        return self.measures.raw(self.slug) if self.measures else None

    def dates(
        self, raw: Any, where: str, values: Mapping[str, Any], document: model.Document | None, *, required: bool
    ) -> tuple[model.DateBasis | None, model.DateBasis | None]:
        """The basis of ``valid_from`` and ``valid_to`` (see :func:`basis.date_bases`)."""
        return basis.date_bases(self, raw, where, values, document, required=required, source_text=self._source_text())

    def window(self, start: Any, end: Any, where: str) -> None:
        if start and end and end < start:
            self.fail(f"{where}.valid_to", f"{end} is before valid_from {start}")

    def clause(self, raw: Any, where: str, document: model.Document) -> model.Clause | None:
        if not self.keys(raw, where, _CLAUSE_REQUIRED, _CLAUSE_OPTIONAL):
            return None
        n = len(self.problems)
        at = lambda key: f"{where}.{key}"  # noqa: E731 - a key path inside this clause
        clause_id = self.text(raw["id"], at("id"))
        if clause_id is not None and not re.fullmatch(rf"{re.escape(self.slug)}-[0-9a-z]+(-[0-9a-z]+)*", clause_id):
            self.fail(at("id"), f"{clause_id!r} is not <slug>-<clause as ASCII> with slug {self.slug!r}")
        cite = self.text(raw["cite"], at("cite"))
        if cite is not None:
            slug, sep, number = cite.partition("#")
            if not sep or not number or number != number.strip() or re.search(r"\s", number):
                self.fail(at("cite"), f"{cite!r} is not of the form <slug>#<clause>")
            elif slug != self.slug:
                self.fail(at("cite"), f"{cite!r}: slug {slug!r} does not match the folder {self.slug!r}")
        text = self.text(raw["text"], at("text"))
        source = self.measures.get(self.slug) if self.measures is not None else None
        words = text  # what the clause's quotations are found in
        if text is not None and source is not None and _WS.sub("", text) not in source:
            self.fail(at("text"), f"not found verbatim in {self.measures.label(self.slug)} (whitespace ignored)")
            words = None  # reported once: its quotations are not checked against words that are wrong
        firm_facing = raw["firm_facing"]
        if not isinstance(firm_facing, bool):
            self.fail(at("firm_facing"), "must be true or false")
        mode = self.enum(raw["mode"], at("mode"), model.MODES, "mode")
        jurisdiction = self.code(raw["jurisdiction"], at("jurisdiction"))
        if jurisdiction and not regions.in_jurisdiction(jurisdiction, document.jurisdiction) \
                and document.jurisdiction not in regions.NATIONAL_CODES:
            self.fail(at("jurisdiction"), f"{jurisdiction} is outside the document's {document.jurisdiction}")
        valid_from = self.date(raw["valid_from"], at("valid_from"))
        valid_to = self.date(raw["valid_to"], at("valid_to"), nullable=True)
        self.window(valid_from, valid_to, where)
        tree = None
        params = basis.params(self, raw["params"], at("params"), words, self._source_text(),
                              window=(valid_from, valid_to)) if "params" in raw else ()
        named = {p.name: p for p in params or ()}
        if raw.get("conditions") is not None:
            if firm_facing is False:
                self.fail(at("conditions"), "conditions on a clause that is not firm-facing (never judged)")
            tree = conditions.group(self, raw["conditions"], at("conditions"), params=named)
        if params and tree is not None:
            unused = set(named) - {leaf.param for leaf in model.iter_leaves(tree)}
            if unused:
                self.fail(at("params"), f"not used by the conditions: {', '.join(sorted(unused))}")
        basis.leaf_quotes(self, tree, at("conditions"), words, self._source_text())
        benefit = self.benefit(raw["benefit"], at("benefit"), words, (valid_from, valid_to)) if "benefit" in raw else None
        if benefit is not None and benefit.cap is not None and tree is not None:
            tree = _capped(tree, benefit.cap)
        needs = self.strings(raw.get("needs", []), at("needs"))
        application = None
        if mode == "apply":
            application = self.text(raw.get("application"), at("application"))
        elif "application" in raw:
            self.fail(at("application"), f"only clauses of mode apply say how to apply (mode is {mode})")
        deadline = basis.deadline(self, raw["application_deadline"], at("application_deadline"), mode, words) \
            if "application_deadline" in raw else None
        agencies = self.strings(raw["agencies"], at("agencies"))
        sms = raw.get("sms")
        if sms is not None and not isinstance(sms, bool):
            self.fail(at("sms"), "must be true or false (whether firms are told of it by SMS too)")
        elif sms is not None and not firm_facing:
            self.fail(at("sms"), "a clause that is not firm-facing sends nothing")
        part = self.text(raw["part"], at("part")) if "part" in raw else None
        executable = bool(firm_facing is True and tree is not None and not needs)
        # Conditions already reported as invalid: whether the clause is decided by data is not known yet.
        decided = None if raw.get("conditions") is not None and tree is None else executable
        grounds = raw.get("basis") or {}
        dates = self.dates(raw.get("basis"), at("basis"), {"valid_from": valid_from, "valid_to": valid_to},
                           document, required=False)
        mode_basis = basis.mode_basis(self, grounds.get("mode") if isinstance(grounds, Mapping) else None,
                                      at("basis.mode"), mode, words, decided)
        values = dict(
            part=part, mode_basis=mode_basis, params=params or (), from_basis=dates[0], to_basis=dates[1],
            application_deadline=deadline,
            notes=basis.notes(self, raw["notes"], at("notes"), words) if "notes" in raw else (),
            id=clause_id, cite=cite, slug=self.slug, title=self.text(raw["title"], at("title")), text=text,
            category=self.enum(raw["category"], at("category"), model.CATEGORIES, "category"),
            firm_facing=firm_facing, mode=mode, agencies=agencies, jurisdiction=jurisdiction,
            valid_from=valid_from, valid_to=valid_to, conditions=tree, benefit=benefit,
            needs=needs, application=application, sms=sms,
        )
        if len(self.problems) > n:
            return None
        return model.Clause(**values, rule_version=rule_version(raw), executable=executable)

    def benefit(self, raw: Any, where: str, clause_text: str | None, window: tuple[Any, Any]) -> model.Benefit | None:
        if not self.keys(raw, where, _BENEFIT_REQUIRED, {"formula", "cap", "params", "at_most"}):
            return None
        n = len(self.problems)
        kind = self.text(raw["kind"], f"{where}.kind")
        if kind is not None and not _SNAKE.match(kind):
            self.fail(f"{where}.kind", f"{kind!r} is not snake_case")
        unit = self.enum(raw["unit"], f"{where}.unit", model.UNITS, "unit")
        description = self.text(raw["description"], f"{where}.description")
        text, inputs = raw.get("formula"), frozenset()
        params = basis.params(self, raw["params"], f"{where}.params", clause_text, window=window) \
            if "params" in raw else ()
        if params and text is None:
            self.fail(f"{where}.params", "numbers of a formula: there is no formula")
        if text is not None and params is not None:
            text, inputs = basis.formula_params(self, text, params, where)
            if unit == "none":
                self.fail(f"{where}.unit", "a formula computes an amount: unit cannot be none")
        at_most = self.text(raw["at_most"], f"{where}.at_most") if "at_most" in raw else None
        if at_most is not None and not basis.quoted(at_most, clause_text):
            self.fail(f"{where}.at_most", "not found in the clause's text (whitespace ignored)")
        if at_most is not None and text is None:
            self.fail(f"{where}.at_most", "says the formula's amount is a maximum: add a formula")
        cap = None
        if "cap" in raw:
            cap = self.cap(raw["cap"], f"{where}.cap", clause_text)
            if text is None:
                self.fail(f"{where}.cap", "a cap limits what a formula computes: add a formula")
            elif unit != "yuan":
                self.fail(f"{where}.cap", f"a cap is an amount of money: unit must be yuan, not {unit}")
        if len(self.problems) > n:
            return None
        if cap is not None:
            text = f"max(0, min({text}, {cap.amount}) - {model.GRANTED})"
            inputs = inputs | {model.GRANTED}
        return model.Benefit(kind=kind, unit=unit, description=description, formula=text, inputs=inputs, cap=cap,
                             params=params or (), at_most=at_most,
                             schedule=basis.schedule(text, params) if text is not None else ())

    def cap(self, raw: Any, where: str, clause_text: str | None) -> model.Cap | None:
        if not self.keys(raw, where, {"amount", "per", "quote"}, set()):
            return None
        n = len(self.problems)
        amount = raw["amount"]
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 < amount < conditions.MAX_ABS:
            self.fail(f"{where}.amount", f"{amount!r} is not a positive amount")
        per = self.enum(raw["per"], f"{where}.per", model.CAP_PERIODS, "cap period")
        quote = self.text(raw["quote"], f"{where}.quote")
        if quote is not None and clause_text is not None and _WS.sub("", quote) not in _WS.sub("", clause_text):
            self.fail(f"{where}.quote", "not found in the clause's text (whitespace ignored)")
        if len(self.problems) > n:
            return None
        return model.Cap(amount=amount, per=per, quote=quote)


def _capped(tree: model.Condition, cap: model.Cap) -> model.Condition:
    """The clause's conditions and one more: what it already granted in the period is below the cap."""
    below = model.Leaf(model.GRANTED, "lt", cap.amount, "benefit.cap", cap.quote)
    if isinstance(tree, model.Group) and tree.kind == "all":
        return dataclasses.replace(tree, children=(*tree.children, below))
    return model.Group("all", (tree, below), "")
