"""An explanation is stored once, however many decisions read alike: firms judged the same way share it
(a province's first backfill wrote one per decision, about 40% of the database, for a few thousand
distinct texts), and every decision still reads its own in full."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
import sqlalchemy as sa

from connectors import sql_models as models
from engine import audit
from engine.backfill import runner
from tests import factories
from tests.backfill import helpers
from tests.conftest import SQL_BACKENDS

AS_OF = dt.date(2022, 4, 15)
#: Two 西宁 small-scale taxpayers declaring the same March 2022 sales: judged alike, clause by clause.
TWINS = (factories.uscc(311, region="630102"), factories.uscc(312, region="630102"))


def _twin_events() -> list[dict]:
    events = []
    for firm in TWINS:
        events += [
            factories.event(firm=firm, region="630102", occurred_at="2022-03-01T09:00:00+08:00"),
            factories.event("tax.vat_declared", firm=firm, occurred_at="2022-04-15T09:00:00+08:00", period="2022-03",
                            sales=90000),
        ]
    return [dict(e, id=f"evt-{n}") for n, e in enumerate(events)]


async def _stored_explanations(store) -> int:
    async with store._read() as connection:
        return (await connection.execute(sa.select(sa.func.count()).select_from(models.Explanation.__table__))).scalar_one()


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_firms_judged_alike_share_each_explanation(store, production_matcher, tmp_path):
    # The pipeline judges the twins under a draft rule, then a backfill re-judges them under the corrected
    # one (月销售额15万元(含)以下): both writers store each distinct explanation once.
    await helpers.ingest(store, helpers.wrong_matcher(tmp_path), _twin_events())
    result = await runner.run(store, production_matcher, runner.Plan(as_of=AS_OF, clause_ids=frozenset({helpers.CLAUSE})))
    assert result.tally.recorded == 2

    first, second = [[d.decision for d in await store.decisions(uscc)] for uscc in TWINS]
    assert [d.explanation for d in first] == [d.explanation for d in second]
    latest = [d for d in first if d.clause_id == helpers.CLAUSE][-1]
    assert latest.rule_version != [d for d in first if d.clause_id == helpers.CLAUSE][0].rule_version
    leaf = [c for c in latest.explanation["conditions"] if c["attr"] == "vat_monthly_sales"][0]
    assert (leaf["op"], leaf["required"], leaf["seen"]) == ("le", 150000, 90000.0)
    distinct = {orjson.dumps(d.explanation) for d in first}
    assert len(first) > len(distinct)
    assert await _stored_explanations(store) == len(distinct)
    assert audit.verify([e.as_json() async for e in store.audit_entries()]).ok
