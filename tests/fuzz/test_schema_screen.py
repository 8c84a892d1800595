"""The compiled first look at an event (engine/ingest/schema_screen.py) never lets through what the
full check refuses: on valid events and arbitrary mutations of them, whenever the screen says an
envelope or a type's data passes, Python's jsonschema with the same schema and format checks finds
no problem. (The other way round only costs time: the full check then decides.)"""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import given

from engine.ingest import schema_screen, validation
from tests.fuzz import budget, mutations

#: The schemas the webhook checks: the envelope's, and each type's `data`.
NAMES = (validation.ENVELOPE, *validation.event_types())
SCREENS = {name: schema_screen.screen(validation.schema(name), validation._formats.checkers) for name in NAMES}
FULL = {name: jsonschema.Draft202012Validator(validation.schema(name), format_checker=validation._formats) for name in NAMES}


def full_check_passes(name: str, instance: Any) -> bool:
    return next(iter(FULL[name].iter_errors(instance)), None) is None


@given(case=mutations.items(with_id=True))
@budget.fuzz_settings(budget.MUTATION_EXAMPLES * 2)
def test_what_the_screen_passes_the_full_check_passes(case: tuple[Any, bool]) -> None:
    item, _ = case
    if SCREENS[validation.ENVELOPE](item):
        assert full_check_passes(validation.ENVELOPE, item), item
    kind = item.get("type") if isinstance(item, dict) and isinstance(item.get("type"), str) else None
    if kind in SCREENS and isinstance(item.get("data"), dict) and SCREENS[kind](item["data"]):
        assert full_check_passes(kind, item["data"]), item


def test_the_screen_passes_every_valid_example_so_the_webhook_is_spared_the_full_check() -> None:
    for kind in validation.event_types():
        event = mutations.factories.event(kind)
        assert SCREENS[validation.ENVELOPE](event), kind
        assert SCREENS[kind](event["data"]), kind
