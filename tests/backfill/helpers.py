"""Shared set-ups for the backfill tests: firms ingested through the real path, a mis-encoded rule."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine import storage
from engine.backfill import runner
from engine.ingest import pipeline, synth
from engine.judging.catalogue import durable, loader
from tests import factories

#: The clause whose rule the tests "correct": qinghai-2022#(二), 月销售额15万元(含)以下 (inclusive).
CLAUSE = "qinghai-2022-2"
CORRECT_LEAF = "- {attr: vat_monthly_sales, op: le, value: {param: sales_limit}, quote: 月销售额15万元(含)以下}"
#: The same leaf mis-encoded as exclusive, as a first draft of the rule file might have had it.
WRONG_LEAF = "- {attr: vat_monthly_sales, op: lt, value: {param: sales_limit}, quote: 月销售额15万元(含)以下}"

AT_THRESHOLD = factories.uscc(301, region="630102")
BELOW = factories.uscc(302, region="630102")
ABOVE = factories.uscc(303, region="630102")


async def ingest(store: storage.Storage, matcher: Any, events: Iterable[dict[str, Any]]) -> None:
    """Store events as the webhook does (validated) and fold them all with `matcher`."""
    report = await synth.store_events(store, list(events))
    assert report.rejected == 0, report.problems
    await pipeline.Pipeline(store, matcher).run_once()


def qinghai_vat_firms() -> list[dict[str, Any]]:
    """Three small-scale taxpayers in 西宁 declaring March 2022 sales of exactly, under and over 150,000."""
    events = []
    for firm, sales in ((AT_THRESHOLD, 150000), (BELOW, 90000), (ABOVE, 150001)):
        events += [
            factories.event(firm=firm, region="630102", occurred_at="2022-03-01T09:00:00+08:00"),
            factories.event("tax.vat_declared", firm=firm, occurred_at="2022-04-15T09:00:00+08:00",
                            period="2022-03", sales=sales),
        ]
    return [dict(e, id=f"evt-{n}") for n, e in enumerate(events)]


def wrong_rules(tmp_path: Path) -> Path:
    """A copy of rules/ whose qinghai-2022#(二) threshold is exclusive (the mistake to correct)."""
    target = tmp_path / "rules-draft"
    shutil.copytree(loader.rules_dir(None), target)
    path = target / "qinghai-2022" / "clauses.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(CORRECT_LEAF) == 1
    path.write_text(text.replace(CORRECT_LEAF, WRONG_LEAF), encoding="utf-8")
    return target


def wrong_matcher(tmp_path: Path) -> durable.DurableMatcher:
    return durable.DurableMatcher(loader.load(wrong_rules(tmp_path)))


async def judged_batch(store: storage.Storage, production_matcher: Any, tmp_path: Path, as_of: dt.date) -> list[Any]:
    """The three 西宁 firms judged by the pipeline under the mis-encoded threshold, then re-judged under the
    corrected one (月销售额15万元(含)以下): the batch's changes, not yet written."""
    await ingest(store, wrong_matcher(tmp_path), qinghai_vat_firms())
    judged = runner.judge.Judge(production_matcher, as_of, frozenset({CLAUSE}))
    return list((await runner.judge_batch(store, judged, "", "~", dry_run=False, list_changes=0)).changes)
