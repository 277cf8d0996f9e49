"""The auditor's workbench (风险拦截): a subject's whole history on one page — profile versions, matches, notices,
applications, entitlements, payments and audit entries — read straight from each domain's table (app/ is the top
layer; nothing here writes). Each section is its newest rows, at most ``LIMIT``."""

from __future__ import annotations

from typing import Any

from kit.db import raw

LIMIT = 200


async def _rows(sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await raw(sql + f" LIMIT {LIMIT}", *args)]


async def subject_history(kind: str, subject_id: str) -> dict[str, list[dict[str, Any]]]:
    profile = "eligibility_enterprise" if kind == "enterprise" else "eligibility_talent"
    current = await _rows(
        f"SELECT digest, updated_at AS valid_from, NULL AS valid_to, feed FROM {profile} WHERE subject_id = {{}}",
        subject_id,
    )
    older = await _rows(
        f"SELECT digest, valid_from, valid_to, feed FROM {profile}_version WHERE subject_id = {{}} ORDER BY valid_from DESC",
        subject_id,
    )
    keys = [f"{kind}:{subject_id}"]
    ents = await _rows(
        "SELECT id, key, policy_code, policy_version, amount_fen, state, reason, created_at FROM pay_entitlement "
        "WHERE subject_kind = {} AND subject_id = {} ORDER BY id DESC",
        kind,
        subject_id,
    )
    flags = await _rows(
        "SELECT id, rule, severity, state, entitlement_id, created_at FROM pay_risk_flag WHERE subject_kind = {} "
        "AND subject_id = {} ORDER BY id DESC",
        kind,
        subject_id,
    )
    payments = await _rows(
        "SELECT p.id, p.batch_id, p.policy_code, p.amount_fen, p.status, p.exception, p.reason, p.payee_account, "
        "p.settled_on, r.code AS receipt_code, p.created_at FROM pay_payment p LEFT JOIN pay_receipt r "
        "ON r.payment_id = p.id WHERE p.subject_kind = {} AND p.subject_id = {} ORDER BY p.id DESC",
        kind,
        subject_id,
    )
    # Entries naming the subject itself, or one of its entitlements, payments or flags (each by its own entity).
    groups: list[tuple[str | None, list[str]]] = [
        (None, [subject_id, *keys]),
        ("entitlement", [e["key"] for e in ents] + [str(e["id"]) for e in ents]),
        ("payment", [str(p["id"]) for p in payments]),
        ("risk_flag", [str(f["id"]) for f in flags]),
    ]
    conditions, args = [], []
    for entity, ids in groups:
        if not ids:
            continue
        marks = ", ".join("{}" for _ in ids)
        conditions.append(f"({'entity = {} AND ' if entity else ''}entity_id IN ({marks}))")
        args += ([entity] if entity else []) + ids
    return {
        "profiles": current + older,
        "matches": await _rows(
            "SELECT id, code, amount_fen, clauses, as_of, profile_digest, rule_digest, state, withdrawn_reason, "
            "created_at FROM eligibility_match WHERE subject_kind = {} AND subject_id = {} ORDER BY id DESC",
            kind,
            subject_id,
        ),
        "notices": await _rows(
            "SELECT id, kind, title, created_at, read_at FROM notifications_notice WHERE recipient_kind = {} "
            "AND subject_id = {} ORDER BY id DESC",
            kind,
            subject_id,
        ),
        "applications": await _rows(
            "SELECT id, application_no, policy_code, amount_fen, status, decided_by, created_at FROM "
            "policies_application WHERE subject_kind = {} AND subject_id = {} ORDER BY id DESC",
            kind,
            subject_id,
        ),
        "entitlements": ents,
        "payments": payments,
        "flags": flags,
        "audit": await _rows(
            "SELECT seq, at, actor, role, action, entity, entity_id FROM app_audit_entry WHERE "
            + " OR ".join(conditions)
            + " ORDER BY seq DESC",
            *args,
        ),
    }
