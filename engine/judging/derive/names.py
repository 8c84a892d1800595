"""Plain-Chinese names of the attributes the rules see, from the glossary (engine/core/data/glossary.yaml).

What a firm or an officer reads when a notice says why an amount changed, or when the firm's page
says which data the engine is missing and which agency holds it: never an attribute code.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from engine.core import glossary


@dataclasses.dataclass(frozen=True)
class AttributeName:
    """An attribute as a reader sees it (its glossary entry)."""

    term: glossary.Term

    @property
    def name(self) -> str:
        return self.term.label

    @property
    def held_by(self) -> str:
        """The agency that holds the data (the firm's page names it beside a missing attribute)."""
        return self.term.held_by or ""

    @property
    def short(self) -> str | None:
        """A name short enough for an SMS parameter; None for an attribute no benefit formula reads."""
        return self.term.short

    @property
    def unit(self) -> str:
        return self.term.unit

    @property
    def told_in_notices(self) -> bool:
        """Whether a notice may say this attribute changed (it has a short name: a formula reads it)."""
        return self.term.short is not None

    def value_text(self, value: Any) -> str:
        """A value in words: ``1,000,000.00元``, ``是``/``否``, ``6个月``; ``未知`` when absent."""
        return "未知" if value is None else glossary.load().value_text(self.term, value)


@functools.cache
def attribute_names() -> Mapping[str, AttributeName]:
    """Attribute → its name (every attribute the rules see; tests/core/test_glossary.py holds it complete)."""
    return {key: AttributeName(term) for key, term in glossary.load().attributes.items()}
