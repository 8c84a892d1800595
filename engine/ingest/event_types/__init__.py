"""The event types the service accepts, one module each, and the registry that finds them.

Adding an event type is adding one module here that declares `EVENT_TYPE` (an
`engine.ingest.event_types.record.EventType`) beside its `<name>.schema.json`: validation's type
list, the envelope's `type` enum, folding, `policy-push synth`, the console's labels and the
docs check all read the registry, so nothing else needs a list of types.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator

from engine.ingest.event_types.record import EventType, Stage, SynthHook


class Registry:
    """A set of event types by name, with the lookups the service needs (fixed once built)."""

    def __init__(self, types: Iterable[EventType]) -> None:
        self._types: dict[str, EventType] = {}
        for event_type in types:
            if event_type.name in self._types:
                raise ValueError(f"event type {event_type.name} is declared twice")
            self._types[event_type.name] = event_type
        # Worked out once: validation asks for these on every event received.
        self._names = tuple(sorted(self._types))
        self._region_types = frozenset(name for name, t in self._types.items() if t.scope == "region")

    def __iter__(self) -> Iterator[EventType]:
        return iter(self._types[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __len__(self) -> int:
        return len(self._types)

    def get(self, name: str) -> EventType:
        """The type called `name`; KeyError if there is none."""
        return self._types[name]

    def names(self) -> tuple[str, ...]:
        """Every type's name, sorted."""
        return self._names

    def region_types(self) -> frozenset[str]:
        """Types about a region rather than a firm: they carry no `uscc`."""
        return self._region_types

    def labels(self) -> dict[str, str]:
        """Type name → its Chinese label."""
        return {t.name: t.label for t in self}

    def generators(self, stage: Stage) -> list[SynthHook]:
        """The synth hooks of one stage, in the order they draw from the shared random stream."""
        hooks = [(t.synth.order, t.name, t.synth) for t in self if t.synth is not None and t.synth.stage == stage]
        return [hook for _, _, hook in sorted(hooks, key=lambda h: h[:2])]

    def with_types(self, *extra: EventType) -> Registry:
        """This registry with `extra` types added (a test's, or a deployment's own)."""
        return Registry([*self._types.values(), *extra])


def discover(package: str = __name__) -> Registry:
    """Every type declared in `package` (this one unless told): each module with an `EVENT_TYPE`."""
    types = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        if isinstance(getattr(module, "EVENT_TYPE", None), EventType):
            types.append(module.EVENT_TYPE)
    return Registry(types)


#: The event types the service accepts.
REGISTRY = discover()
