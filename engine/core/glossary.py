"""The glossary (``data/glossary.yaml``): every code a firm or an officer may meet, in plain Chinese.

One file gives each rule attribute, profile field, enum value, event type, console status and notice
reason its Chinese label (and each attribute or field its unit), so every page, export, notice and
document says the same thing. :func:`load` reads it strictly: anything out of place raises
:class:`GlossaryError` naming the file and the key. Tests hold it complete against the rules, the
event schemas and the notices (tests/core/test_glossary.py).

:meth:`Glossary.value_text` says a value as a reader reads it (``54,000.00元``, ``12个月``, ``是``,
``国有企业``, ``昆明市五华区``); pages that can set a code in small type beside a name do so
themselves (engine/console).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from engine.core import industry_codes, regions

GLOSSARY_FILE = Path(__file__).with_name("data") / "glossary.yaml"

#: How a value reads (the file's header says each).
UNITS = ("yuan", "percent", "months", "persons", "years", "year", "date", "yes_no", "region", "industry", "text")
#: Longest `short` name: it goes into an SMS parameter (35 characters at most) with a few words around it.
SHORT_MAX_CHARS = 20
SECTIONS = ("attributes", "fields", "enums", "event_types", "labels", "notice_reasons", "csv")
_PLACEHOLDER = re.compile(r"<([a-z_]+)>")
_SAY_PART = re.compile(r"\{([a-z_]+)\}")
#: Parts a reason's words may name beyond its pattern's groups (engine/console/reasons.py makes them).
DERIVED_PARTS = frozenset({"said"})


class GlossaryError(ValueError):
    """The glossary file is malformed; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Term:
    """An attribute or a profile field as a reader sees it."""

    label: str
    #: One of :data:`UNITS`, or "enum" when `enum` names the table its values read through.
    unit: str
    enum: str | None = None
    #: The agency holding the data (attributes only; the firm's page names it beside missing data).
    held_by: str | None = None
    #: A name short enough for an SMS (attributes a benefit formula reads, whose change a notice tells).
    short: str | None = None
    #: A field's placeholders said through an enum (`<kind>` → 高新技术企业).
    keys: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ReasonPattern:
    """A notice reason with variable parts: `pattern` (matched whole) and its Chinese words `say`."""

    name: str
    pattern: re.Pattern[str]
    say: str


@dataclasses.dataclass(frozen=True)
class Reasons:
    """The ``notice_reasons`` section."""

    exact: Mapping[str, str]
    patterns: tuple[ReasonPattern, ...]
    provider_silent: str
    operator_actions: Mapping[str, str]
    smtp: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Glossary:
    """The loaded glossary (see the module docstring)."""

    attributes: Mapping[str, Term]
    #: Profile field pattern (``leases.<lease_id>.monthly_rent``) → its term.
    fields: Mapping[str, Term]
    enums: Mapping[str, Mapping[str, str]]
    #: Enum → where the event schemas declare it (``lease.reported/landlord_type``).
    enum_schema: Mapping[str, tuple[str, ...]]
    event_types: Mapping[str, str]
    labels: Mapping[str, Mapping[str, str]]
    reasons: Reasons
    csv: Mapping[str, tuple[str, ...]]

    @functools.cached_property
    def _field_patterns(self) -> tuple[tuple[re.Pattern[str], str], ...]:
        compiled = []
        for key in self.fields:
            parts = [f"(?P<{p[1:-1]}>[^.]+)" if _PLACEHOLDER.fullmatch(p) else re.escape(p) for p in key.split(".")]
            compiled.append((re.compile(r"\.".join(parts)), key))
        return tuple(compiled)

    def table(self, name: str) -> Mapping[str, str]:
        """The labels table `name` (``verdict``, ``notice_status`` …); KeyError if there is none."""
        return self.labels[name]

    def field(self, path: str) -> tuple[str, Term] | None:
        """A profile field's label (its placeholders said) and term, or None for a path no entry matches."""
        for pattern, key in self._field_patterns:
            found = pattern.fullmatch(path)
            if found:
                term = self.fields[key]
                parts = {name: self.enums[term.keys[name]].get(value, value) if name in term.keys else value
                         for name, value in found.groupdict().items()}
                return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], term.label), term
        return None

    def value_text(self, term: Term, value: Any) -> str:
        """`value` as a reader reads it, in `term`'s unit; "—" for none, a list joined by 、."""
        if value is None or value == "":
            return "—"
        if isinstance(value, (list, tuple)):
            return "、".join(self.value_text(term, item) for item in value)
        if term.enum is not None:
            return self.enums[term.enum].get(str(value), str(value))
        return _say(term.unit, value)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,}"


def _say(unit: str, value: Any) -> str:
    if unit == "yes_no":
        return "是" if value else "否"
    if unit == "yuan" and isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        fen = decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
        return f"{fen:,}元"
    suffix = {"percent": "%", "months": "个月", "persons": "人", "years": "年", "year": "年"}.get(unit)
    if suffix is not None:
        return f"{value}年" if unit == "year" else f"{_number(value)}{suffix}"
    if unit == "date" and isinstance(value, int) and 10_000_000 <= value <= 99_991_231:
        try:
            return datetime.date(value // 10_000, value // 100 % 100, value % 100).isoformat()
        except ValueError:
            return str(value)
    if unit == "region":
        return regions.display_name(str(value)) or str(value)
    if unit == "industry":
        return industry_name(str(value)) or str(value)
    return str(value)


def industry_name(code: str) -> str | None:
    """The name of a GB/T 4754 code: letter and digits (F5211), a section letter, or a division's digits (52)."""
    return industry_codes.name(code) or industry_codes.names().get(code)


class _Reader:
    """Strict reading of one section, each problem named ``<file>: <key path>: <what>``."""

    def __init__(self, path: Path) -> None:
        self.file = path.name

    def fail(self, where: str, what: str) -> GlossaryError:
        return GlossaryError(f"{self.file}: {where}: {what}")

    def mapping(self, raw: Any, where: str) -> Mapping[Any, Any]:
        if not isinstance(raw, dict) or not raw:
            raise self.fail(where, "must be a non-empty mapping")
        return raw

    def text(self, raw: Any, where: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(where, "must be non-empty text")
        return raw

    def texts(self, raw: Any, where: str, *, blank: bool = False) -> dict[str, str]:
        """A table code → label; `blank` allows an empty label (a unit that reads as nothing)."""
        table = self.mapping(raw, where)
        return {str(code): "" if blank and label == "" else self.text(label, f"{where}.{code}") for code, label in table.items()}

    def term(self, raw: Any, where: str, enums: Mapping[str, Any], *, attribute: bool, placeholders: Iterable[str] = ()) -> Term:
        allowed = {"label", "unit", "enum", "held_by", "short"} if attribute else {"label", "unit", "enum", "keys"}
        entry = self.mapping(raw, where)
        unknown = set(entry) - allowed
        if unknown:
            raise self.fail(where, f"unknown key(s) {', '.join(sorted(unknown))}; an entry has {', '.join(sorted(allowed))}")
        label = self.text(entry.get("label"), f"{where}.label")
        if ("unit" in entry) == ("enum" in entry):
            raise self.fail(where, "needs a unit or an enum (one of them)")
        if "unit" in entry and entry["unit"] not in UNITS:
            raise self.fail(f"{where}.unit", f"{entry['unit']!r} is not one of {', '.join(UNITS)}")
        if "enum" in entry and entry["enum"] not in enums:
            raise self.fail(f"{where}.enum", f"{entry['enum']!r} is not an enum of this file")
        if attribute:
            held_by = self.text(entry.get("held_by"), f"{where}.held_by")
            short = self.text(entry["short"], f"{where}.short") if "short" in entry else None
            if short is not None and len(short) > SHORT_MAX_CHARS:
                raise self.fail(f"{where}.short", f"{len(short)} characters, at most {SHORT_MAX_CHARS} (it goes into an SMS)")
            return Term(label, entry.get("unit", "enum"), entry.get("enum"), held_by=held_by, short=short)
        keys = dict(self.mapping(entry["keys"], f"{where}.keys")) if "keys" in entry else {}
        for name, enum in keys.items():
            if enum not in enums:
                raise self.fail(f"{where}.keys.{name}", f"{enum!r} is not an enum of this file")
        if set(_PLACEHOLDER.findall(label)) != set(placeholders) or not set(keys) <= set(placeholders):
            raise self.fail(f"{where}.label", "must say each <placeholder> of the path, and keys only name those")
        return Term(label, entry.get("unit", "enum"), entry.get("enum"), keys=keys)

    def reasons(self, raw: Any, where: str) -> Reasons:
        section = self.mapping(raw, where)
        expected = {"exact", "patterns", "provider_silent", "operator_actions", "smtp"}
        if set(section) != expected:
            raise self.fail(where, f"needs exactly {', '.join(sorted(expected))}")
        patterns = []
        if not isinstance(section["patterns"], list):
            raise self.fail(f"{where}.patterns", "must be a list of {name, pattern, say}")
        for i, item in enumerate(section["patterns"]):
            at = f"{where}.patterns[{i}]"
            if not isinstance(item, dict) or set(item) != {"name", "pattern", "say"}:
                raise self.fail(at, "needs exactly name, pattern and say")
            try:
                compiled = re.compile(self.text(item["pattern"], f"{at}.pattern"))
            except re.error as exc:
                raise self.fail(f"{at}.pattern", f"not a regular expression: {exc}") from None
            say = self.text(item["say"], f"{at}.say")
            stray = set(_SAY_PART.findall(say)) - set(compiled.groupindex) - DERIVED_PARTS
            if stray:
                raise self.fail(f"{at}.say", f"names {', '.join(sorted(stray))}, not parts of the pattern")
            patterns.append(ReasonPattern(self.text(item["name"], f"{at}.name"), compiled, say))
        return Reasons(self.texts(section["exact"], f"{where}.exact"), tuple(patterns),
                       self.text(section["provider_silent"], f"{where}.provider_silent"),
                       self.texts(section["operator_actions"], f"{where}.operator_actions"),
                       self.texts(section["smtp"], f"{where}.smtp"))


def _list(read: _Reader, raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item.strip() for item in raw):
        raise read.fail(where, "must be a list of non-empty text")
    return tuple(raw)


@functools.cache
def load(path: Path = GLOSSARY_FILE) -> Glossary:
    """The glossary at `path`; raise GlossaryError naming the file and key for anything out of place."""
    read = _Reader(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GlossaryError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != set(SECTIONS):
        raise GlossaryError(f"{path.name}: needs exactly the sections {', '.join(SECTIONS)}")
    enums, enum_schema = {}, {}
    for name, entry in read.mapping(raw["enums"], "enums").items():
        if not isinstance(entry, dict) or set(entry) != {"schema", "values"}:
            raise read.fail(f"enums.{name}", "needs exactly schema (a list, maybe empty) and values")
        enums[name] = read.texts(entry["values"], f"enums.{name}.values")
        enum_schema[name] = _list(read, entry["schema"], f"enums.{name}.schema")
    attributes = {name: read.term(entry, f"attributes.{name}", enums, attribute=True)
                  for name, entry in read.mapping(raw["attributes"], "attributes").items()}
    fields = {path_: read.term(entry, f"fields.{path_}", enums, attribute=False, placeholders=_PLACEHOLDER.findall(path_))
              for path_, entry in read.mapping(raw["fields"], "fields").items()}
    labels = {name: read.texts(table, f"labels.{name}", blank=True)
              for name, table in read.mapping(raw["labels"], "labels").items()}
    csv = {name: _list(read, columns, f"csv.{name}") for name, columns in read.mapping(raw["csv"], "csv").items()}
    return Glossary(attributes, fields, enums, enum_schema, read.texts(raw["event_types"], "event_types"), labels,
                    read.reasons(raw["notice_reasons"], "notice_reasons"), csv)


def schema_enums(schema: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, list[Any]]]:
    """Every ``enum`` of a JSON Schema with the property it belongs to (``landlord_type``, ``hires/kind``)."""
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping):
            if "enum" in sub:
                yield f"{prefix}{name}", list(sub["enum"])
            yield from schema_enums(sub, f"{prefix}{name}/")
