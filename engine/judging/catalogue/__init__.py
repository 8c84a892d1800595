"""The rules catalogue: the document folders rules/<slug>/ loaded strictly, matched by durable-rules, explained in Python.

Modules: :mod:`~engine.catalogue.loader` (YAML → :mod:`~engine.catalogue.model`, with
:mod:`~engine.catalogue.checker`, :mod:`~engine.catalogue.conditions`, :mod:`~engine.catalogue.basis`
(the words behind modes, dates, conditions and numbers) and :mod:`~engine.catalogue.yamlio`),
:mod:`~engine.catalogue.formula` (benefit amounts),
:mod:`~engine.catalogue.inputs` (what both evaluators are fed), :mod:`~engine.catalogue.reference`
(the three-valued reference evaluator), :mod:`~engine.catalogue.compiler` and
:mod:`~engine.catalogue.durable` (the durable-rules matcher), :mod:`~engine.catalogue.scenarios`
(worked examples) and :mod:`~engine.catalogue.cli` (``rules`` and ``match`` commands).
"""

from __future__ import annotations

import os

from engine.judging.catalogue import durable, loader, reference


def default_matcher(
    rules: str | os.PathLike[str] | None = None, *, measures: str | os.PathLike[str] | None = None
) -> durable.DurableMatcher | reference.ReferenceMatcher:
    """The production matcher over the repository's catalogue ($POLICY_PUSH_RULES_DIR overrides).

    Quotations are checked against each document's source.txt (or the ``measures`` override),
    which every document folder carries: a catalogue whose texts are missing does not load.
    """
    return durable.create_matcher(loader.load(rules, measures=measures))
