"""Driving the real service for the seam tests: signed deliveries in, stored notices out."""

from __future__ import annotations

from typing import Any

from aiohttp import test_utils

from engine.ingest import webhooks
from tests import factories


async def deliver(client: test_utils.TestClient, *deliveries: tuple[dict[str, Any], str]) -> None:
    """POST each (event body, webhook id) signed, in the order given, and wait until the pipeline has folded them."""
    for body, webhook_id in deliveries:
        data, headers = factories.signed(body, msg_id=webhook_id)
        response = await client.post("/webhooks/events", data=data, headers=headers)
        assert response.status == 202, await response.text()
    await client.app[webhooks.PIPELINE].drained()


async def notices(store, uscc: str, clause_id: str) -> list[tuple[str, str, float | None]]:
    """The firm's notices for a clause as (channel, period, amount announced), sorted."""
    amounts = {stored.id: stored.decision.amount for stored in await store.decisions(uscc)}
    return sorted((n.channel, n.period, amounts[n.decision_id]) for n in await store.firm_notices(uscc) if n.clause_id == clause_id)


async def told(store, uscc: str, clause_id: str) -> list[tuple[str, str, int, str, float | None, float | None]]:
    """The firm's notices for a clause as (channel, period, revision, kind, amount, amount told before), sorted."""
    return sorted(
        (n.channel, n.period, n.revision, n.kind, n.amount, n.previous_amount)
        for n in await store.firm_notices(uscc) if n.clause_id == clause_id
    )


async def verdicts(store, uscc: str, clause_id: str) -> list[tuple[str, str, float | None]]:
    """The firm's stored decisions for a clause as (as-of date, verdict, amount), oldest first."""
    return [
        (stored.as_of.isoformat(), stored.decision.status.value, stored.decision.amount)
        for stored in await store.decisions(uscc)
        if stored.decision.clause_id == clause_id
    ]
