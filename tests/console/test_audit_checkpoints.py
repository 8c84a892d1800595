"""The audit page verifies from its latest checkpoint: its cost is about AUDIT_CHECKPOINT_EVERY entries,
however long the chain; an edit after the checkpoint, or of the checkpointed entry, is still found; an
edit before it is left to `policy-push audit verify`, which walks everything."""

from __future__ import annotations

import sqlalchemy as sa

from connectors import sql_models as models
from engine import audit, console, constants
from engine.console import audit_view
from tests.console import conftest as console_conftest
from tests.console import seed

pytestmark = console_conftest.SQL_ONLY

AUDIT = models.AuditEntry.__table__


def counting(client) -> list[tuple[int, int]]:
    """Record (after, entries read) for every verification the page makes."""
    reads = client.app[console.READ_MODEL]
    original, calls = reads.audit_batches, []

    async def wrapped(batch=1000, *, after=0):
        calls.append([after, 0])
        async for entries in original(batch, after=after):
            calls[-1][1] += len(entries)
            yield entries

    reads.audit_batches = wrapped
    return calls


async def audit_page(client) -> str:
    response = await client.get("/console/audit")
    assert response.status == 200
    return await response.text()


async def checkpoints(store) -> list[audit.Entry]:
    return [e async for e in store.audit_entries() if e.action == audit_view.CHECKPOINT]


async def test_the_page_reads_about_a_checkpoints_worth_whatever_the_chain_length(console_client, login, store, monkeypatch):
    monkeypatch.setattr(constants, "AUDIT_CHECKPOINT_EVERY", 200)
    await login(console_client, "wang", "viewer")
    calls = counting(console_client)
    for round_ in range(3):  # the chain grows by 1,000 entries each round
        await store.append_audit([audit.Draft("test", "test.filler", "thing", str(n), {"round": round_}) for n in range(1000)])
        assert "哈希链校验通过" in await audit_page(console_client)
        assert "哈希链校验通过" in await audit_page(console_client)
    total = len([e async for e in store.audit_entries()])
    assert total > 3000
    reads = [n for _, n in calls]
    assert reads[0] > 1000  # the first check walks everything (there is no checkpoint yet)…
    assert all(n <= 1001 + 2 for n in reads[1:])  # …later ones what was added since, and the checkpoint entry itself
    assert all(n <= 2 for n in reads[1::2])  # a second look right after reads only the new checkpoint
    kept = await checkpoints(store)
    assert len(kept) == 3 and all(c.actor == "wang (viewer)" for c in kept)
    assert [c.payload["seq"] for c in kept] == [after for after, _ in calls[1::2]]
    now = len([e async for e in store.audit_entries()])
    assert f"共 {now} 条" in await audit_page(console_client)  # the unfiltered count is the newest seq
    assert "共 3 条" in (await (await console_client.get("/console/audit?action=audit.checkpoint")).text())


async def test_edits_after_the_checkpoint_or_of_it_are_found_before_it_left_to_the_cli(console_client, login, store, monkeypatch):
    monkeypatch.setattr(constants, "AUDIT_CHECKPOINT_EVERY", 5)
    await seed.two_firms(store)
    await login(console_client, "wang", "viewer")
    await audit_page(console_client)
    [checkpoint] = await checkpoints(store)
    kept = checkpoint.payload["seq"]
    html = await audit_page(console_client)
    assert f"校验点（第 {kept} 条）完好" in html and "policy-push audit verify" in html

    async def edit(seq: int) -> None:
        async with store.write() as connection:
            await connection.execute(sa.update(AUDIT).where(AUDIT.c.seq == seq).values(actor="someone else"))

    await edit(kept - 1)  # before the checkpoint: the page does not walk there any more…
    assert "哈希链校验通过" in await audit_page(console_client)
    full = audit.verify([e.as_json() async for e in store.audit_entries()])
    assert not full.ok and full.first_bad_seq == kept - 1  # …the CLI's full walk does
    await edit(kept)  # the checkpointed entry itself: its content is checked against its hash
    html = await audit_page(console_client)
    assert "哈希链校验失败" in html and f"第 {kept} 号记录有问题（记录内容与其哈希不符" in html
    async with store.write() as connection:  # …and its hash against the one the checkpoint recorded
        await connection.execute(sa.update(AUDIT).where(AUDIT.c.seq == kept).values(hash="0" * 64))
    html = await audit_page(console_client)
    assert "哈希链校验失败" in html and f"校验点所记的第 {kept} 条记录已被删除或修改" in html


async def test_an_edit_after_the_checkpoint_is_named(console_client, login, store, monkeypatch):
    monkeypatch.setattr(constants, "AUDIT_CHECKPOINT_EVERY", 5)
    await seed.two_firms(store)
    await login(console_client, "wang", "viewer")
    await audit_page(console_client)
    [checkpoint] = await checkpoints(store)
    await store.append_audit([audit.Draft("test", "test.filler", "thing", str(n), {}) for n in range(3)])
    victim = checkpoint.seq + 2
    async with store.write() as connection:
        await connection.execute(sa.update(AUDIT).where(AUDIT.c.seq == victim).values(subject_id="x"))
    html = await audit_page(console_client)
    assert "哈希链校验失败" in html and f"第 {victim} 号记录" in html and "记录被修改过" in html
    assert len(await checkpoints(store)) == 1  # no checkpoint over a broken chain
