"""From a signed event to a cited, explained decision, through the real matcher and SQLite."""

from __future__ import annotations

import pytest

from engine.ingest import webhooks
from tests import conftest, factories

FIRM = factories.uscc(31, region="630102")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_vat_return_at_the_threshold_yields_a_cited_met_decision(make_client, store, production_matcher):
    client = await make_client(matcher=production_matcher)
    deliveries = [
        factories.event(firm=FIRM, region="630102", occurred_at="2022-03-01T09:00:00+08:00"),
        factories.event("tax.vat_declared", firm=FIRM, occurred_at="2022-04-15T09:00:00+08:00", period="2022-03", sales=150000),
        factories.event("tax.vat_declared", firm=FIRM, occurred_at="2022-05-15T09:00:00+08:00", period="2022-04", sales=150001),
    ]
    for body in deliveries:
        data, headers = factories.signed(body)
        assert (await client.post("/webhooks/events", data=data, headers=headers)).status == 202
    await client.app[webhooks.PIPELINE].drained()

    history = [(d.decision.cite, d.decision.status.value, d.as_of.isoformat(), d.decision.clause_id)
               for d in await store.decisions(FIRM)]
    # qinghai-2022#(二) is judged in parts; its VAT part is qinghai-2022-2.
    vat = [h[:3] for h in history if h[3] == "qinghai-2022-2"]
    # unknown on registration (no VAT yet) → met at exactly 150000 → no longer met at 150001
    assert [status for _, status, _ in vat][:2] == ["unknown", "met"]
    assert vat[1][2] == "2022-04-15"
    assert vat[-1][1] != "met" and vat[-1][2] == "2022-05-15"
    assert not any(cite.startswith(("yunnan", "datong", "lvliang", "yangquan")) for cite, *_ in history)

    auth = await conftest.bearer(store)
    firm = await (await client.get(f"/api/firms/{FIRM}", headers=auth)).json()
    latest = {d["clause_id"]: d for d in firm["decisions"]}["qinghai-2022-2"]
    assert latest["event_id"] and latest["explanation"] and latest["facts"]
