"""notify / notify_many: one notice per key (also concurrently), the inbox, ownership, audit, bad input."""

from __future__ import annotations

import asyncio

import pytest

from app.audit import verify
from app.tables import AuditEntry
from notifications.errors import ContextIncomplete, NoticeNotFound, UnknownNoticeKind
from notifications.schemas import ChannelPreferences, NoticeRequest
from notifications.service import deliveries, get_notice, inbox, mark_read, notify, notify_many, unread_count
from notifications.tables import Delivery, Notice
from tests.notifications.conftest import CTX, make_recipient

ENT = "91360100MA35ABCDE1"
OTHER = "91360100MA35ZZZZZ9"


async def test_same_key_twice_gives_one_notice_and_one_delivery_per_channel(fresh_db, actor):
    await make_recipient(actor, ENT, webhook_url="http://127.0.0.1:9/hook")
    first = await notify("enterprise", ENT, "matched_auto", f"matched:HQ-1@1:{ENT}", CTX, actor=actor)
    again = await notify("enterprise", ENT, "matched_auto", f"matched:HQ-1@1:{ENT}", CTX, actor=actor)
    assert not first.existing and again.existing and again.id == first.id
    assert await Notice.count() == 1
    rows = await Delivery.select(Delivery.channel, Delivery.status)
    assert sorted(r["channel"] for r in rows) == ["email", "sms", "webhook"]
    assert {r["status"] for r in rows} == {"queued"}


async def test_concurrent_notifies_with_one_key_store_one_notice(fresh_db, actor):
    await make_recipient(actor, ENT)
    results = await asyncio.gather(
        *(notify("enterprise", ENT, "matched_auto", f"matched:HQ-2@1:{ENT}", CTX, actor=actor) for _ in range(6))
    )
    assert len({r.id for r in results}) == 1
    assert sum(1 for r in results if not r.existing) == 1
    assert await Notice.count() == 1
    assert await Delivery.count() == 2  # email and sms, once each


async def test_notify_many_batches_and_skips_used_keys(fresh_db, actor):
    reqs = [
        NoticeRequest(
            recipient_kind="talent",
            subject_id=f"3601021990010{i:05d}",
            kind="matched_apply",
            key=f"matched:NC-TALENT@3:{i}",
            context={"policy_title": "人才补贴", "link": "http://x/p/3"},
        )
        for i in range(1200)
    ]
    res = await notify_many(reqs, actor=actor)
    assert len(res.created) == 1200 and res.existing_keys == []
    again = await notify_many(
        reqs[:600]
        + [
            NoticeRequest(
                recipient_kind="talent",
                subject_id="X1",
                kind="matched_apply",
                key="new-one",
                context={"policy_title": "p", "link": "l"},
            )
        ],
        actor=actor,
    )
    assert [n.subject_id for n in again.created] == ["X1"]
    assert len(again.existing_keys) == 600
    assert await Notice.count() == 1201
    assert await Delivery.count() == 0  # no recipients registered: inbox only
    assert (await verify()).ok


async def test_inbox_unread_and_ownership(fresh_db, actor):
    n1 = await notify("enterprise", ENT, "matched_auto", "k1", CTX, actor=actor)
    n2 = await notify("enterprise", ENT, "payment_sent", "k2", CTX, actor=actor)
    await notify("enterprise", OTHER, "matched_auto", "k3", CTX, actor=actor)
    assert [n.id for n in await inbox("enterprise", ENT)] == [n2.id, n1.id]
    assert await unread_count("enterprise", ENT) == 2
    with pytest.raises(NoticeNotFound):
        await mark_read(n1.id, "enterprise", OTHER)
    with pytest.raises(NoticeNotFound):
        await get_notice(n1.id, "talent", ENT)
    assert await unread_count("enterprise", ENT) == 2
    opened = await mark_read(n1.id, "enterprise", ENT, actor=actor)
    assert opened.read_at is not None
    again = await mark_read(n1.id, "enterprise", ENT, actor=actor)
    assert again.read_at == opened.read_at
    assert await unread_count("enterprise", ENT) == 1
    assert (await deliveries(n1.id))[0].model_dump(include={"channel", "status"}) == {
        "channel": "inbox",
        "status": "read",
    }
    assert [n.id for n in await inbox("enterprise", ENT, limit=1, offset=1)] == [n1.id]


async def test_audit_records_the_notice_without_personal_data(fresh_db, actor):
    n = await notify("talent", "360102199001011234", "money_arrived", "arrived:1", CTX, actor=actor)
    entry = await AuditEntry.select().where(AuditEntry.entity == "notice", AuditEntry.entity_id == str(n.id)).first()
    assert entry["action"] == "notice.create" and entry["after_digest"]
    assert "13812345678" not in entry["detail"] and "360102199001011234" not in entry["detail"]
    assert "6222021234567890123" not in entry["detail"]


@pytest.mark.parametrize("kind,missing", [("application_rejected", "reason"), ("money_arrived", "receipt_link")])
async def test_incomplete_context_is_refused_and_nothing_stored(fresh_db, actor, kind, missing):
    ctx = {k: v for k, v in CTX.items() if k != missing}
    with pytest.raises(ContextIncomplete) as e:
        await notify("enterprise", ENT, kind, "bad", ctx, actor=actor)
    assert missing in e.value.message
    assert await Notice.count() == 0 and await AuditEntry.count() == 0


async def test_unknown_kind_is_refused(fresh_db, actor):
    with pytest.raises(UnknownNoticeKind):
        await notify("enterprise", ENT, "lottery_won", "bad", CTX, actor=actor)
    assert await Notice.count() == 0


async def test_opted_out_channels_get_no_delivery(fresh_db, actor):
    await make_recipient(actor, ENT, preferences=ChannelPreferences(email=False, sms=True, webhook=True))
    n = await notify("enterprise", ENT, "matched_auto", "k-opt", CTX, actor=actor)
    assert [d.channel for d in await deliveries(n.id)] == ["inbox", "sms"]


async def test_upsert_recipients_in_bulk(fresh_db, actor):
    from notifications.schemas import RecipientUpsert
    from notifications.service import get_recipient, upsert_recipients

    await make_recipient(actor, ENT, email="old@example.cn")
    items = [
        RecipientUpsert(
            kind="enterprise", subject_id=f"91360100MA35{i:06d}", display_name=f"企业{i}", email=f"e{i}@example.cn"
        )
        for i in range(700)
    ]
    items.append(RecipientUpsert(kind="enterprise", subject_id=ENT, email="new@example.cn"))
    assert await upsert_recipients(items, actor=actor) == 701
    assert (await get_recipient("enterprise", ENT)).email == "new@example.cn"
    r = await get_recipient("enterprise", "91360100MA35000042")
    assert r.display_name == "企业42" and r.preferences == ChannelPreferences()
    assert (await verify()).ok
