"""Notices about payments (payment_sent, money_arrived, payment_returned) through notifications/, once per payment
and kind (the notice key), written after the commit that changed the payments.

None is lost: the runner writes what is owed to ``pay_notice_outbox`` in the same transaction as the payments'
change; the notice job (``payments.notify``) writes the notices and then removes the row, and
``sweep_notice_outbox`` (every minute, and at the end of a run) does it for rows whose job never came (a worker
killed between the commit and the enqueue, Redis unreachable then). Writing twice is harmless: the notice key
makes the second a no-op."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from arq.connections import ArqRedis

from kit.audit import Actor
from kit.db import in_list, raw
from kit.money import fen_to_yuan
from kit.time import now
from notifications import service as notifications

PORTAL_LINK = "/portal"


async def owe_notices(notices: list[tuple[str, list[int]]], at: dt.datetime) -> list[tuple[str, list[int], int]]:
    """The notices owed for a change, as outbox rows in the change's own transaction: one row per kind, its
    payments in order. Returns (kind, payment ids, outbox row id) to notify once the transaction has committed."""
    by_kind: dict[str, list[int]] = {}
    for kind, ids in notices:
        if ids:
            # Two groups may owe the same kind (rejected and reversed both owe payment_returned): one row for both,
            # else both would be told the same row's id and the other row would wait for the sweep.
            by_kind.setdefault(kind, []).extend(ids)
    if not by_kind:
        return []
    rows = await raw(
        "INSERT INTO pay_notice_outbox (kind, payment_ids, created_at) VALUES "
        + ", ".join("({}, {}, {})" for _ in by_kind)
        + " RETURNING id, kind",
        *(v for kind, ids in by_kind.items() for v in (kind, ",".join(map(str, ids)), at)),
    )
    ids_of = {r["kind"]: int(r["id"]) for r in rows}
    return [(kind, ids, ids_of[kind]) for kind, ids in by_kind.items()]


async def notify_payments(
    kind: str, payment_ids: list[int], *, actor: Actor, queue: ArqRedis | None = None, base_url: str = ""
) -> int:
    """Write the notices of ``kind`` for these payments; returns how many were new. Links are absolute when
    ``base_url`` (the platform's public address) is given: a notice travels by email and SMS."""
    base = base_url.rstrip("/")
    if not payment_ids:
        return 0
    marks, args = in_list(payment_ids)
    rows = await raw(
        f"SELECT p.id, p.subject_kind, p.subject_id, p.amount_fen, p.payee_account, p.reason, p.settled_at, "
        f"p.policy_code, b.policy_facts, r.code FROM pay_payment p "
        f"LEFT JOIN pay_budget b ON b.version_id = p.version_id "
        f"LEFT JOIN pay_receipt r ON r.payment_id = p.id WHERE p.id {marks}",
        *args,
    )
    requests: list[dict[str, Any]] = []
    titles: dict[str, str] = {}  # the policy facts of a version, parsed once per call
    for r in rows:
        facts = r["policy_facts"] or "{}"
        if facts not in titles:
            titles[facts] = json.loads(facts).get("title") or ""
        title = titles[facts] or r["policy_code"]
        # The account goes in whole: notifications/ masks it (mask_context) before anything is stored or sent.
        context = {
            "policy_title": title,
            "amount": f"{fen_to_yuan(r['amount_fen'])}",
            "account": r["payee_account"],
            "link": base + PORTAL_LINK,
        }
        if kind == "money_arrived":
            context["receipt_link"] = f"{base}/verify/{r['code']}" if r["code"] else base + PORTAL_LINK
            if r["settled_at"]:  # the instant as stored (UTC); the notice shows it in Beijing time
                at = r["settled_at"]
                context["arrived_at"] = at.isoformat() if isinstance(at, dt.datetime) else str(at)
        if kind == "payment_returned":
            context["reason"] = r["reason"]
        requests.append(
            {
                "recipient_kind": r["subject_kind"],
                "subject_id": r["subject_id"],
                "kind": kind,
                "key": f"payment:{r['id']}:{kind}",
                "context": context,
            }
        )
    result = await notifications.notify_many(requests, actor=actor, queue=queue)
    return len(getattr(result, "created", []) or [])


async def notify_owed(outbox_id: int, *, actor: Actor, queue: ArqRedis | None = None, base_url: str = "") -> int:
    """Write the notices of one outbox row, then remove it; returns how many notices were new (0 when the row is
    already gone: another worker did it)."""
    rows = await raw("SELECT kind, payment_ids FROM pay_notice_outbox WHERE id = {}", outbox_id)
    if not rows:
        return 0
    ids = [int(x) for x in rows[0]["payment_ids"].split(",") if x]
    n = await notify_payments(rows[0]["kind"], ids, actor=actor, queue=queue, base_url=base_url)
    await raw("DELETE FROM pay_notice_outbox WHERE id = {}", outbox_id)
    return n


async def sweep_notice_outbox(
    *,
    actor: Actor,
    queue: ArqRedis | None = None,
    base_url: str = "",
    older_than_seconds: float = 60.0,
    limit: int = 1000,
) -> int:
    """Write the notices of outbox rows older than ``older_than_seconds`` (their job was lost or is late); returns
    how many rows were done."""
    before = now() - dt.timedelta(seconds=older_than_seconds)
    rows = await raw("SELECT id FROM pay_notice_outbox WHERE created_at <= {} ORDER BY id LIMIT {}", before, limit)
    for r in rows:
        await notify_owed(int(r["id"]), actor=actor, queue=queue, base_url=base_url)
    return len(rows)
