"""Notices about payments (payment_sent, money_arrived, payment_returned) through notifications/, once per payment
and kind (the notice key), called after the commit that changed the payments."""
from __future__ import annotations

import json

from payments.money import fen_to_yuan
from payments.service.db import in_list, raw

PORTAL_LINK = "/portal"


async def notify_payments(kind: str, payment_ids: list[int], *, actor, queue=None, base_url: str = "") -> int:
    """Write the notices of ``kind`` for these payments; returns how many were new. Links are absolute when
    ``base_url`` (the platform's public address) is given: a notice travels by email and SMS."""
    base = base_url.rstrip("/")
    try:
        from notifications import service as notifications
    except ImportError:  # a build without notifications/
        return 0
    if not payment_ids:
        return 0
    marks, args = in_list(payment_ids)
    rows = await raw(f"SELECT p.id, p.subject_kind, p.subject_id, p.amount_fen, p.payee_account, p.reason, "
                     f"p.policy_code, b.policy_facts, r.code FROM pay_payment p "
                     f"LEFT JOIN pay_budget b ON b.version_id = p.version_id "
                     f"LEFT JOIN pay_receipt r ON r.payment_id = p.id WHERE p.id IN {marks}", *args)
    requests = []
    for r in rows:
        title = json.loads(r["policy_facts"] or "{}").get("title") or r["policy_code"]
        # The account goes in whole: notifications/ masks it (mask_context) before anything is stored or sent.
        context = {"policy_title": title, "amount": f"{fen_to_yuan(r['amount_fen'])}", "account": r["payee_account"],
                   "link": base + PORTAL_LINK}
        if kind == "money_arrived":
            context["receipt_link"] = f"{base}/verify/{r['code']}" if r["code"] else base + PORTAL_LINK
        if kind == "payment_returned":
            context["reason"] = r["reason"]
        requests.append({"recipient_kind": r["subject_kind"], "subject_id": r["subject_id"], "kind": kind,
                         "key": f"payment:{r['id']}:{kind}", "context": context})
    result = await notifications.notify_many(requests, actor=actor, queue=queue)
    return len(getattr(result, "created", []) or [])
