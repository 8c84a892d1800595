"""Jurisdiction scopes: which firms an operator account may see, by the firm's region.

A scope is either ALL (every firm, including those whose region is unknown) or a set of GB/T 2260
prefixes: "53" (a province, 云南省), "5301" (a city, 昆明市) or "530102" (a county, 五华区). A firm
is in a restricted scope when its 6-digit county code starts with one of them; a firm without a
region is in no restricted scope (nobody can say which office it belongs to).

These are the only rules about scopes: the SQL store turns `prefixes` into a condition
(connectors.sql_base.region_in: `region LIKE '53%' OR …`, the same rule), and everything else asks
`covers` (or `overlaps`, for a region filter that may be wider or narrower than the scope).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from engine.core import regions

#: Written in a command or stored for an account that sees every region.
ALL_WORD = "all"
#: A county code, or the code of a city (XXYY00) or province (XX0000) — shortened to its prefix.
_CODE = re.compile(r"[0-9]{2}(?:[0-9]{2}(?:[0-9]{2})?)?")


class ScopeError(ValueError):
    """A region given for a scope is not a GB/T 2260 code or prefix in use."""


@dataclasses.dataclass(frozen=True)
class Scope:
    """The regions an account may see: `prefixes` is None for all of them, else a non-empty sorted
    tuple of 2-, 4- or 6-digit prefixes, none of which contains another."""

    prefixes: tuple[str, ...] | None = None

    @property
    def is_all(self) -> bool:
        return self.prefixes is None

    def covers(self, region: str | None) -> bool:
        """Whether a firm with this county code is in scope (a firm without one only for ALL)."""
        if self.prefixes is None:
            return True
        if not isinstance(region, str) or len(region) != 6 or not region.isdigit():
            return False
        return region.startswith(self.prefixes)

    def overlaps(self, prefix: str) -> bool:
        """Whether some firm of region `prefix` (2, 4 or 6 digits) can be in scope: the prefix lies
        inside one of the scope's regions, or contains one ("5301" overlaps a scope of 530102)."""
        if self.prefixes is None:
            return True
        return any(prefix.startswith(own) or own.startswith(prefix) for own in self.prefixes)

    def stored(self) -> str | None:
        """How the scope is kept on an account: None for ALL, else the prefixes joined by spaces."""
        return None if self.prefixes is None else " ".join(self.prefixes)

    def describe(self) -> str:
        """In Chinese for the console: 全部地区, or each region's name with its code."""
        if self.prefixes is None:
            return "全部地区"
        return "、".join(f"{label(prefix)}（{prefix}）" for prefix in self.prefixes)

    def __str__(self) -> str:
        return ALL_WORD if self.prefixes is None else ",".join(self.prefixes)


ALL = Scope()


def prefix_of(code: str) -> str:
    """The prefix a region stands for: "530000" → "53", "530100" → "5301", "530102" → "530102";
    "53" and "5301" are returned as they are. ScopeError if it is not a region in use."""
    text = code.strip() if isinstance(code, str) else ""
    if not _CODE.fullmatch(text):
        raise ScopeError(f"region {code!r}: expected a GB/T 2260 code (6 digits) or a prefix of 2 or 4 digits")
    if len(text) == 6:
        text = text[:2] if text.endswith("0000") else text[:4] if text.endswith("00") else text
    padded = text.ljust(6, "0")
    if not regions.is_known_region(padded):
        raise ScopeError(f"region {code!r}: {padded} is not a region code in use (GB/T 2260)")
    return text


def parse(values: Iterable[str]) -> Scope:
    """A scope from codes or prefixes as typed (`--region 530102 --region 5301`); "all" alone, or
    nothing at all, is ALL. Prefixes inside another one given are dropped ("53" covers "5301")."""
    given = [value.strip() for value in values if value.strip()]
    if not given or given == [ALL_WORD]:
        return ALL
    if ALL_WORD in given:
        raise ScopeError(f"region {ALL_WORD!r} cannot be combined with other regions")
    prefixes = sorted({prefix_of(value) for value in given})
    kept = tuple(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes))
    return Scope(kept)


def load(stored: str | None) -> Scope:
    """The scope kept on an account (`Scope.stored`); None (accounts from before scopes) is ALL."""
    if stored is None or not stored.strip():
        return ALL
    prefixes = tuple(sorted(stored.split()))
    if not all(_CODE.fullmatch(p) for p in prefixes):
        raise ScopeError(f"stored scope {stored!r} is not a list of region prefixes")
    return Scope(prefixes)


def label(prefix: str) -> str:
    """A prefix's region name ("5301" → 昆明市, "530102" → 昆明市五华区), or the prefix itself if the
    table has no name."""
    return regions.display_name(prefix) or prefix
