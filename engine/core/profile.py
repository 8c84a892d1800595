"""The firm profile as a pure fold of field assignments.

Each event assigns values to dotted field paths (`tax.vat.2022-03.sales`). For every path the
profile keeps the value from the event that *occurred* last: stamps compare as
(`occurred_at` in UTC ISO form, event id), so the outcome does not depend on arrival order and
rebuilding from the event log gives the same profile.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping
from typing import Any

Stamp = tuple[str, str]


def stamp_of(occurred_at: datetime.datetime, event_id: str) -> Stamp:
    """The ordering key of an event's assignments: when it occurred (UTC), then its id to break ties."""
    return (occurred_at.astimezone(datetime.UTC).isoformat(), event_id)


def apply_assignments(
    fields: dict[str, Any],
    stamps: dict[str, list[str]],
    assignments: Mapping[str, Any],
    stamp: Stamp,
) -> list[str]:
    """Apply one event's assignments in place where they are newer; return the paths whose value changed."""
    changed = []
    for path, value in assignments.items():
        current = stamps.get(path)
        if current is not None and tuple(current) >= stamp:
            continue  # a later-occurring event already set this field: the older value is history only
        stamps[path] = list(stamp)
        if path not in fields or fields[path] != value:
            changed.append(path)
        fields[path] = value
    return changed


def rebuild(history: Iterable[tuple[Mapping[str, Any], Stamp]]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Fold (assignments, stamp) pairs in any order into (fields, stamps)."""
    fields: dict[str, Any] = {}
    stamps: dict[str, list[str]] = {}
    for assignments, stamp in history:
        apply_assignments(fields, stamps, assignments, stamp)
    return fields, stamps


def nest(uscc: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Turn flat dotted fields into the nested profile documented in docs/profile.md."""
    profile: dict[str, Any] = {"uscc": uscc}
    for path in sorted(fields):
        parents, leaf = _split(path)
        node = profile
        for part in parents:
            if part not in node:  # setdefault would build a throw-away dict per level
                node[part] = {}
            node = node[part]
        node[leaf] = fields[path]
    return profile


# Paths repeat across firms ("tax.vat.2022-03.sales"): a backfill nests millions of profiles.
@functools.lru_cache(maxsize=65536)
def _split(path: str) -> tuple[tuple[str, ...], str]:
    *parents, leaf = path.split(".")
    return tuple(parents), leaf


def flatten(profile: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Inverse of `nest` (without `uscc`): nested profile → dotted fields."""
    flat: dict[str, Any] = {}
    for key, value in profile.items():
        if not prefix and key == "uscc":
            continue
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat
