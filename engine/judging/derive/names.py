"""Plain-Chinese names of profile attributes (``data/attribute_names.yaml``), loaded strictly.

What a firm or an officer reads when a notice says why an amount changed, or when the firm's page
says which data the engine is missing and which agency holds it: never an attribute code.
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from engine.judging.derive.attributes import ATTRIBUTE_TYPES

NAMES_FILE = Path(__file__).with_name("data") / "attribute_names.yaml"
#: How a value of each unit reads.
UNITS = ("yuan", "yes_no", "months")
#: Longest `short` name: it goes into an SMS parameter (35 characters at most) with a few words around it.
SHORT_MAX_CHARS = 20
#: Every entry names the attribute and the agency holding it; `short` and `unit` come together.
REQUIRED = frozenset({"name", "held_by"})
OPTIONAL = frozenset({"short", "unit"})


class NamesError(ValueError):
    """The names file is malformed; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class AttributeName:
    """An attribute as a reader sees it."""

    name: str
    #: The agency that holds the data (the firm's page names it beside a missing attribute).
    held_by: str
    #: A name short enough for an SMS parameter; None for an attribute no benefit formula reads.
    short: str | None = None
    #: How a value reads (:data:`UNITS`); None for an attribute no benefit formula reads.
    unit: str | None = None

    @property
    def told_in_notices(self) -> bool:
        """Whether a notice may say this attribute changed (it has a short name and a unit)."""
        return self.short is not None and self.unit is not None

    def value_text(self, value: Any) -> str:
        """A value in words: ``1,000,000.00元``, ``是``/``否``; ``未知`` when absent."""
        if value is None:
            return "未知"
        if self.unit == "yes_no":
            return "是" if value else "否"
        if self.unit == "months":
            return f"{int(value)}个月"
        fen = decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
        return f"{fen:,}元"


@functools.cache
def attribute_names(path: Path = NAMES_FILE) -> Mapping[str, AttributeName]:
    """Attribute → its name; raise NamesError naming the file and key for anything out of place."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise NamesError(f"{path.name}: expected a mapping of attribute → name, held_by (short, unit)")
    names = {}
    for key, entry in raw.items():
        where = f"{path.name}: {key}"
        if key not in ATTRIBUTE_TYPES:
            raise NamesError(f"{where}: not a profile attribute (docs/profile.md)")
        if not isinstance(entry, dict) or not REQUIRED <= set(entry) or not set(entry) <= REQUIRED | OPTIONAL:
            raise NamesError(f"{where}: needs name and held_by, and may have short and unit (both or neither)")
        if ("short" in entry) != ("unit" in entry):
            raise NamesError(f"{where}: short and unit go together (a notice tells a change with both)")
        for field in ("name", "held_by", "short"):
            if field in entry and not (isinstance(entry[field], str) and entry[field].strip()):
                raise NamesError(f"{where}.{field}: must be non-empty text")
        if "short" in entry and len(entry["short"]) > SHORT_MAX_CHARS:
            raise NamesError(f"{where}.short: {len(entry['short'])} characters, at most {SHORT_MAX_CHARS} (it goes into an SMS)")
        if "unit" in entry and entry["unit"] not in UNITS:
            raise NamesError(f"{where}.unit: {entry['unit']!r} is not one of {', '.join(UNITS)}")
        names[key] = AttributeName(entry["name"], entry["held_by"], entry.get("short"), entry.get("unit"))
    return names
