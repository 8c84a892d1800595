"""Repeated rows in one statement: a notice repeating a benefit already stored is skipped on PostgreSQL
(another writer may have told the firm meanwhile) and fails loudly on SQLite (its single writer has
ruled that out, so a repeat is a bug); an explanation already stored is skipped on both; an upsert
overwrites the columns it names and nothing else."""

from __future__ import annotations

import datetime
import json

import pytest
import sqlalchemy as sa

from connectors import sql_bulk, sql_folding, sql_notice_creation
from connectors import sql_models as models
from engine.core import json_text, matching
from engine.judging import firm_input
from tests.conftest import SQL_BACKENDS
from tests.notices import helpers

_NOTICE = models.Notice.__table__
_DECISION = models.Decision.__table__


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_a_notice_repeating_a_stored_benefit(store):
    await helpers.feed(store, *helpers.eligible_firm_events())
    async with store.write() as connection:
        [stored] = (await connection.execute(sa.select(_NOTICE).limit(1))).mappings().all()
    columns = sql_notice_creation.NOTICES.columns
    again = tuple("ntc_repeated" if name == "notice_id" else stored[name] for name in columns)
    if store.is_sqlite:
        with pytest.raises(sa.exc.IntegrityError):
            async with store.write() as connection:
                await sql_notice_creation.NOTICES.insert(connection, [again])
    else:
        async with store.write() as connection:
            assert await sql_notice_creation.NOTICES.insert(connection, [again]) == []
    async with store.write() as connection:
        repeated = (await connection.execute(sa.select(sa.func.count()).where(_NOTICE.c.notice_id == "ntc_repeated"))).scalar_one()
    assert repeated == 0


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_an_explanation_already_stored_is_left_as_it_is(store):
    encoded = firm_input.encode(matching.Decision("c", "doc#1", "v1", matching.Verdict.MET, explanation={"why": "两次"}))
    for _ in range(2):
        async with store.write() as connection:
            await sql_folding.store_explanations(connection, [encoded, encoded])
    async with store.write() as connection:
        rows = (await connection.execute(sa.select(models.Explanation.__table__))).all()
    assert [(row.sha256, row.body) for row in rows] == [(encoded.explanation_sha256, {"why": "两次"})]


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_decisions_inserted_first_belong_to_the_transaction(store):
    """Decisions go in by binary COPY on PostgreSQL: as the first statement of a transaction that then
    fails they are not kept, and once kept they read back as they were given."""
    await helpers.feed(store, *helpers.eligible_firm_events())
    async with store.write() as connection:
        stored = (await connection.execute(sa.select(_DECISION).order_by(_DECISION.c.id).limit(3))).mappings().all()
        last = (await connection.execute(sa.select(sa.func.max(_DECISION.c.id)))).scalar_one()
    assert len(stored) >= 2  # several rows in one COPY; with none, nothing below would be checked
    columns = sql_folding.DECISIONS.columns
    copies = [
        tuple(last + 1 + k if name == "id" else json.dumps(row[name], ensure_ascii=False) if name == "facts" else row[name]
              for name in columns)
        for k, row in enumerate(stored)
    ]

    class Failed(Exception):
        pass

    with pytest.raises(Failed):
        async with store.write() as connection:
            await sql_folding.DECISIONS.insert(connection, copies)
            raise Failed
    async with store.write() as connection:
        assert (await connection.execute(sa.select(sa.func.max(_DECISION.c.id)))).scalar_one() == last
        await sql_folding.DECISIONS.insert(connection, copies)
    async with store.write() as connection:
        kept = (await connection.execute(sa.select(_DECISION).where(_DECISION.c.id > last).order_by(_DECISION.c.id))).mappings().all()
    assert [{**row, "id": None} for row in kept] == [{**row, "id": None} for row in stored]


@pytest.mark.parametrize("store", SQL_BACKENDS, indirect=True)
async def test_an_upsert_overwrites_only_the_columns_it_names_and_inserts_the_new_keys(store):
    """`update`: the profiles a fold group writes, one statement for new firms and known ones alike."""
    firm = models.Firm.__table__
    profiles = sql_bulk.BulkInsert(firm, ("uscc", "created_at", "fields", "stamps", "events_applied", "updated_at"),
                                   encoded=("fields", "stamps"), conflict=("uscc",), update=("fields", "events_applied", "updated_at"))
    first, later = (datetime.datetime(2026, 1, day, tzinfo=datetime.UTC) for day in (1, 2))
    async with store.write() as connection:
        await connection.execute(sa.insert(firm), [{"uscc": "91110000000000001A", "fields": {"employees": 5}, "stamps": {},
                                                    "events_applied": 1, "created_at": first, "updated_at": first}])
    async with store.write() as connection:
        await profiles.insert(connection, [
            ("91110000000000001A", later, json_text.encode({"employees": 7, "名称": "甲"}), json_text.encode({"x": 1}), 2, later),
            ("91110000000000002B", later, json_text.encode({"employees": None}), json_text.encode({}), 1, later),
        ])
    async with store.write() as connection:
        rows = {row.uscc: row for row in await connection.execute(sa.select(firm).order_by(firm.c.uscc))}
    known, new = rows["91110000000000001A"], rows["91110000000000002B"]
    assert (known.fields, known.events_applied, known.stamps) == ({"employees": 7, "名称": "甲"}, 2, {})  # stamps not named
    assert models.as_utc(known.created_at) == first and models.as_utc(known.updated_at) == later
    assert (new.fields, new.events_applied, models.as_utc(new.created_at)) == ({"employees": None}, 1, later)
