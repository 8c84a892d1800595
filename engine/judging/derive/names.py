"""Plain-Chinese names of profile attributes (``data/attribute_names.yaml``), loaded strictly.

What a firm or an officer reads when a notice says why an amount changed: never an attribute code.
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
UNITS = ("yuan", "yes_no")
#: Longest `short` name: it goes into an SMS parameter (35 characters at most) with a few words around it.
SHORT_MAX_CHARS = 20


class NamesError(ValueError):
    """The names file is malformed; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class AttributeName:
    """An attribute as a reader sees it."""

    name: str
    short: str
    unit: str

    def value_text(self, value: Any) -> str:
        """A value in words: ``1,000,000.00元``, ``是``/``否``; ``未知`` when absent."""
        if value is None:
            return "未知"
        if self.unit == "yes_no":
            return "是" if value else "否"
        fen = decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
        return f"{fen:,}元"


@functools.cache
def attribute_names(path: Path = NAMES_FILE) -> Mapping[str, AttributeName]:
    """Attribute → its name; raise NamesError naming the file and key for anything out of place."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise NamesError(f"{path.name}: expected a mapping of attribute → name, short, unit")
    names = {}
    for key, entry in raw.items():
        where = f"{path.name}: {key}"
        if key not in ATTRIBUTE_TYPES:
            raise NamesError(f"{where}: not a profile attribute (docs/profile.md)")
        if not isinstance(entry, dict) or set(entry) != {"name", "short", "unit"}:
            raise NamesError(f"{where}: needs exactly name, short and unit")
        if not all(isinstance(entry[field], str) and entry[field].strip() for field in ("name", "short")):
            raise NamesError(f"{where}: name and short must be non-empty text")
        if len(entry["short"]) > SHORT_MAX_CHARS:
            raise NamesError(f"{where}.short: {len(entry['short'])} characters, at most {SHORT_MAX_CHARS} (it goes into an SMS)")
        if entry["unit"] not in UNITS:
            raise NamesError(f"{where}.unit: {entry['unit']!r} is not one of {', '.join(UNITS)}")
        names[key] = AttributeName(entry["name"], entry["short"], entry["unit"])
    return names
