"""Group commit and admission control at the webhook, on SQLite and PostgreSQL, as a sender sees them:
concurrent deliveries share commits, each answered only once its event is stored, each stored once;
a commit the database refuses fails every delivery in it and stores none of them; a repeat is a
duplicate; past the bound of deliveries in hand the service answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import datetime
import hashlib

import pytest
import sqlalchemy as sa

from connectors import sql_models as models
from engine.core import records
from engine.ingest import webhooks
from tests import factories
from tests.conftest import SQL_BACKENDS

pytestmark = pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)

_EVENT = models.Event.__table__
#: The event id a test's database refuses to store (a trigger), as a disk or constraint fault would.
POISON = "msg_poison"


async def post(client, body, msg_id):
    data, headers = factories.signed(body, msg_id=msg_id)
    return await client.post("/webhooks/events", data=data, headers=headers)


def firm_event(n: int) -> dict:
    return factories.event("tax.vat_declared", firm=factories.uscc(n % 7 + 1), period=f"2022-{n % 12 + 1:02d}", sales=1000 + n)


async def stored_rows(store) -> list[tuple[str, datetime.datetime]]:
    async with store.read() as connection:
        return [tuple(row) for row in await connection.execute(sa.select(_EVENT.c.event_id, _EVENT.c.received_at))]


async def refuse_poison(store) -> None:
    """Make the database refuse, as a whole, any transaction that inserts the POISON event."""
    async with store.write() as connection:
        if store.is_sqlite:
            await connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_poison BEFORE INSERT ON event WHEN NEW.event_id = '{POISON}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            await connection.exec_driver_sql(
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.event_id = '{POISON}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
            )
            await connection.exec_driver_sql(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON event FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
            )


async def allow_poison(store) -> None:
    async with store.write() as connection:
        await connection.exec_driver_sql("DROP TRIGGER refuse_poison" + ("" if store.is_sqlite else " ON event"))


def new_event(event_id: str, body: str = '{"n":1}') -> records.NewEvent:
    return records.NewEvent(
        event_id=event_id, type="firm.registered", uscc=factories.uscc(1),
        occurred_at=datetime.datetime(2022, 5, 1, tzinfo=datetime.UTC), body=body,
        body_sha256=hashlib.sha256(body.encode()).hexdigest(), headers={"webhook-id": event_id},
    )


async def test_concurrent_deliveries_are_all_acknowledged_and_stored_once_in_shared_commits(make_client, store):
    client = await make_client(store, run_pipeline=False)
    ids = [f"msg_many_{n}" for n in range(60)]
    responses = await asyncio.gather(*(post(client, firm_event(n), msg_id) for n, msg_id in enumerate(ids)))
    assert [r.status for r in responses] == [202] * len(ids)
    assert sorted([(await r.json())["event_id"] for r in responses]) == sorted(ids)
    rows = await stored_rows(store)
    assert sorted(event_id for event_id, _ in rows) == sorted(ids)  # every one, once
    # A transaction stamps all its rows with one received_at: fewer stamps than deliveries means
    # deliveries shared commits (one disk flush for several acknowledgements).
    assert len({received_at for _, received_at in rows}) < len(ids)


async def test_a_commit_the_database_refuses_fails_every_delivery_in_it_and_stores_none(store):
    await refuse_poison(store)
    calls = [[new_event(f"msg_group_{n}")] for n in range(10)] + [[new_event(POISON)]]
    # Started together, the calls queue behind the first and are committed in one transaction.
    outcomes = await asyncio.gather(*(store.add_events(call) for call in calls), return_exceptions=True)
    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    assert await stored_rows(store) == []
    # The store goes on: the next commit, without the refused event, stores what it holds.
    [result] = await store.add_events([new_event("msg_group_0")])
    assert result.created and [event_id for event_id, _ in await stored_rows(store)] == ["msg_group_0"]


async def test_a_delivery_whose_commit_fails_is_503_with_retry_after_and_its_redelivery_is_stored(make_client, store):
    client = await make_client(store, run_pipeline=False)
    await refuse_poison(store)
    body = firm_event(1)
    refused = await post(client, body, POISON)
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert (await refused.json())["error"] == "not_stored"
    assert await store.get_event(POISON) is None
    await allow_poison(store)
    again = await post(client, body, POISON)
    assert again.status == 202 and (await again.json())["status"] == "accepted"
    assert (await store.get_event(POISON)) is not None


async def test_concurrent_redeliveries_of_one_event_store_it_once_and_all_are_acknowledged(make_client, store):
    client = await make_client(store, run_pipeline=False)
    body = firm_event(3)
    responses = await asyncio.gather(*(post(client, body, "msg_same") for _ in range(12)))
    answers = [(r.status, (await r.json())["status"]) for r in responses]
    assert sorted(answers) == [(200, "duplicate")] * 11 + [(202, "accepted")]
    assert [event_id for event_id, _ in await stored_rows(store)] == ["msg_same"]


async def test_past_the_bound_of_deliveries_in_hand_a_delivery_is_503_with_retry_after_and_nothing_is_stored(make_client, store):
    client = await make_client(store, run_pipeline=False)
    intake = client.app[webhooks.INTAKE]
    intake.limit = 1
    body = firm_event(5)
    with intake.admit():  # one delivery in hand: the bound is reached
        refused = await post(client, body, "msg_busy")
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert (await refused.json())["error"] == "overloaded"
    assert await store.get_event("msg_busy") is None
    accepted = await post(client, body, "msg_busy")  # the place is free again
    assert accepted.status == 202
    assert intake.in_flight == 0


async def test_a_delivery_held_past_the_deadline_is_503_and_not_stored(make_client, store):
    client = await make_client(store, run_pipeline=False)
    client.app[webhooks.INTAKE].deadline = 0  # every delivery has waited too long by the time it would be stored
    body = firm_event(6)
    refused = await post(client, body, "msg_late")
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    assert (await refused.json())["error"] == "overloaded"
    assert await store.get_event("msg_late") is None
