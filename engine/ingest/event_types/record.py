"""What one event type is: the frozen record each module of this package declares.

A record gathers everything that used to be spread over the service: the JSON Schema of the
type's `data` (a file beside the module), how an event folds into the firm profile, the profile
paths it sets and the rule attributes they feed, an example, the Chinese label operators read,
and the hook `policy-push synth` draws its events with. The registry (this package) finds them.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Callable, Mapping
from typing import Any, Literal

#: Profile field path → value, as one event sets them (docs/profile.md).
Assignments = dict[str, Any]

#: Event data → the profile fields it sets. Pure: the profile is a fold of these.
Fold = Callable[[dict[str, Any]], Assignments]

#: Region event data → (county, designation kind, year, level or None): what the event designates.
Designate = Callable[[dict[str, Any]], tuple[str, str, int, str | None]]

#: Event data → (JSON Pointer, reason) for rules a JSON Schema cannot say (one field against another).
Check = Callable[[dict[str, Any]], list[tuple[str, str]]]

#: A firm event is about one firm and carries its `uscc`; a region event is about a county and carries none.
Scope = Literal["firm", "region"]

#: When `synth` calls a type's generator for a firm: once at registration, for each year the firm
#: is active, or once after those years; region generators are called once per seed.
Stage = Literal["registration", "yearly", "once", "region"]


@dataclasses.dataclass(frozen=True)
class SynthHook:
    """How `policy-push synth` draws this type's events.

    Every generator of a firm draws from the firm's one random stream, so `order` (within the
    stage) fixes the output: changing it changes every synthetic firm of every seed.
    `draw` receives an `engine.ingest.synth_draw.FirmDraw` (or `RegionDraw` for stage "region").
    """

    stage: Stage
    order: int
    draw: Callable[[Any], None]


@dataclasses.dataclass(frozen=True)
class EventType:
    """One event type, whole: its name, label, schema, fold, documentation and generator.

    `sets` lists the profile paths the fold may write, `<name>` standing for a key taken from the
    data (`tax.vat.<period>.sales`); docs/events.md lists the same under "Sets". `feeds` names the
    rule attributes (docs/profile.md) those fields are read into, as plain strings: ingest does not
    import the judging code. A region type has no fold: it sets no firm field; it has `designate`
    instead, the county designation it records (its kind is one of core.matching.DESIGNATION_KINDS).
    """

    name: str
    label: str
    scope: Scope
    schema: Mapping[str, Any]
    example: Mapping[str, Any]
    sets: tuple[str, ...]
    feeds: tuple[str, ...]
    fold: Fold | None = None
    designate: Designate | None = None
    check: Check | None = None
    synth: SynthHook | None = None

    def __post_init__(self) -> None:
        if (self.fold is None) != (self.scope == "region"):
            raise ValueError(f"{self.name}: a firm type needs a fold and a region type has none")
        if (self.designate is None) != (self.scope == "firm"):
            raise ValueError(f"{self.name}: a region type needs a designate and a firm type has none")


def load_schema(module_file: str, name: str) -> dict[str, Any]:
    """The JSON Schema of type `name`, from `<name>.schema.json` beside the declaring module."""
    path = pathlib.Path(module_file).with_name(f"{name}.schema.json")
    return json.loads(path.read_text(encoding="utf-8"))


def prefixed(prefix: str, data: Mapping[str, Any], keys: tuple[str, ...]) -> Assignments:
    """`prefix.key` → data[key] for each of `keys` present in the data."""
    return {f"{prefix}.{key}": data[key] for key in keys if key in data}


def year_of(data: Mapping[str, Any]) -> int:
    """The event's `year` as an int.

    JSON Schema's "integer" admits 2021.0; as a path part it must read 2021, or the profile
    gets a tax.cit.2021.0 branch that no rule reads (and beside tax.cit.2021, cannot be nested).
    """
    return int(data["year"])
