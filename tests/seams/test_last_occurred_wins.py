"""A profile field keeps the value of the event that occurred last, not the one that arrived last
or whose id sorts last: ids break ties only between events of the same instant."""

from __future__ import annotations

from engine.ingest import pipeline
from tests import factories
from tests.seams import helpers

FIRM = factories.uscc(721, region="140302")


async def test_the_later_occurring_event_wins_though_it_arrives_first_with_the_smaller_id(make_client, store):
    client = await make_client()
    await helpers.deliver(
        client,
        (factories.event(firm=FIRM, occurred_at="2022-03-01T09:00:00+08:00"), "evt-0-registered"),
        # The rename of June arrives first, under an id that sorts before the April one's.
        (factories.event("firm.updated", firm=FIRM, occurred_at="2022-06-01T09:00:00+08:00", name="六月新名有限公司"), "evt-a-june"),
        (factories.event("firm.updated", firm=FIRM, occurred_at="2022-04-01T09:00:00+08:00", name="四月旧名有限公司"), "evt-b-april"),
    )

    stored = (await store.get_firm(FIRM)).fields
    assert stored["name"] == "六月新名有限公司"
    assert await pipeline.rebuild_fields(store, FIRM) == stored
