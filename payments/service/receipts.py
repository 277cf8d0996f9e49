"""Receipt records (回单): written in the settlement's own transaction, no PDF on the payment's path; and lookups."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import secrets
from pathlib import Path
from typing import Any

from kit.db import bulk_insert, codes, in_list, raw, rows_of_subject
from kit.i18n import _l
from kit.money import fen_to_yuan
from kit.vocab import PaymentStatus, SubjectKind
from payments.errors import InvalidState
from payments.receipts.bulk import ReceiptRenderer, write_receipts, write_receipts_zip
from payments.receipts.schemas import (
    CROCKFORD_ALPHABET,
    VERIFICATION_CODE_LENGTH,
    ReceiptFacts,
    canonical_json,
    mask_account,
    mask_id_number,
    mask_name,
    normalize_verification_code,
)
from payments.service import budget
from payments.service.options import RunnerOptions
from payments.tables import Receipt

log = logging.getLogger("zhida.payments")


def _verification_code() -> str:
    """new_verification_code()'s format (16 Crockford base32 characters, 80 random bits), from one urandom call:
    the per-character secrets.choice costs ~0.3 ms, too much for thousands of receipts per second."""
    n = int.from_bytes(secrets.token_bytes(10), "big")
    out = []
    for _ in range(VERIFICATION_CODE_LENGTH):
        n, r = divmod(n, 32)
        out.append(CROCKFORD_ALPHABET[r])
    return "".join(out)


_COLUMNS = ("payment_id", "code", "batch_id", "subject_kind", "subject_id", "facts", "content_digest", "created_at")


async def settlement_receipts(items: list[tuple[dict[str, Any], str]], at: dt.datetime, opts: RunnerOptions) -> int:
    """One receipt record per newly settled payment (``(payment row, bank transfer id)``), in the caller's transaction."""
    if not items:
        return 0
    facts_of: dict[int, dict[str, Any]] = {}
    for p, _ in items:
        if p["version_id"] not in facts_of:
            facts_of[p["version_id"]] = await budget.policy_facts(p["version_id"])
    marks, args = in_list([p["entitlement_id"] for p, _ in items])
    ents = {
        int(r["id"]): r
        for r in await raw(f"SELECT id, policy_version, clause_codes FROM pay_entitlement WHERE id {marks}", *args)
    }
    rows: list[tuple[Any, ...]] = []
    for p, transfer_id in items:
        pf = facts_of[p["version_id"]]
        ent = ents.get(p["entitlement_id"], {"policy_version": 0, "clause_codes": ""})
        clauses = codes(ent["clause_codes"])
        titles = pf.get("clause_titles", {})
        facts = ReceiptFacts(
            code=_verification_code(),
            payment_id=p["id"],
            batch_id=p["batch_id"],
            policy_code=p["policy_code"],
            policy_title=pf.get("title", p["policy_code"]) or p["policy_code"],
            policy_version=ent["policy_version"],
            clause_codes=clauses,
            clause_titles=[titles.get(c, c) for c in clauses],
            issuer=pf.get("issuer", ""),
            payer_name=opts.payer_name,
            payer_account_masked=mask_account(opts.payer_account),
            payee_kind=p["subject_kind"],
            payee_name=mask_name(p["payee_name"]) if p["subject_kind"] == SubjectKind.TALENT else p["payee_name"],
            payee_id_masked=mask_id_number(p["subject_id"]),
            payee_account_masked=mask_account(p["payee_account"]),
            amount=fen_to_yuan(p["amount_fen"]),
            bank_transfer_id=transfer_id,
            settled_at=at,
            issued_at=at,
        )
        canonical = canonical_json(facts)  # facts_digest() is the sha256 of exactly these bytes
        rows.append(
            (
                p["id"],
                facts.code,
                p["batch_id"],
                p["subject_kind"],
                p["subject_id"],
                canonical.decode("utf-8"),
                hashlib.sha256(canonical).hexdigest(),
                at,
            )
        )
    await bulk_insert(Receipt, _COLUMNS, rows)
    return len(rows)


def _facts(row: dict[str, Any]) -> ReceiptFacts:
    return ReceiptFacts.model_validate(json.loads(row["facts"]))


async def receipt_facts(code: str) -> ReceiptFacts | None:
    """The facts of the receipt with this verification code (look-alike characters tolerated), or None.

    Before anything is shown or signed, the stored facts are held to their stored digest and to the payment they
    record (amount, batch, bank transfer id): a record edited in the database is refused, not sealed afresh."""
    row = await Receipt.select().where(Receipt.code == normalize_verification_code(code)).first()
    if row is None:
        return None
    facts = _facts(row)
    pay = await raw("SELECT amount_fen, batch_id, bank_transfer_id FROM pay_payment WHERE id = {}", facts.payment_id)
    if (
        hashlib.sha256(row["facts"].encode("utf-8")).hexdigest() != row["content_digest"]
        or not pay
        or (fen_to_yuan(int(pay[0]["amount_fen"])), int(pay[0]["batch_id"]), pay[0]["bank_transfer_id"])
        != (facts.amount, facts.batch_id, facts.bank_transfer_id)
    ):
        log.error("receipt record %s does not match its digest or payment %s: not shown", row["id"], facts.payment_id)
        raise InvalidState(
            _l(
                "this receipt's record does not match the payment it records; it is not shown. The platform has logged it for investigation / 回单记录与支付记录不一致，暂不显示"
            ),
            status=409,
        )
    return facts


async def receipt_standing(facts: ReceiptFacts) -> str:
    """Whether the money a receipt records stayed with the payee: '' when it did (the payment is settled), else the
    payment's status now (e.g. 'returned': the bank sent it back, 退汇, after the receipt was issued)."""
    rows = await raw("SELECT status FROM pay_payment WHERE id = {}", facts.payment_id)
    status = rows[0]["status"] if rows else "missing"
    return "" if status == PaymentStatus.SETTLED else status


async def receipt_of_payment(payment_id: int) -> ReceiptFacts | None:
    row = await Receipt.select().where(Receipt.payment_id == payment_id).first()
    return _facts(row) if row else None


async def receipts_of_batch(batch_id: int) -> list[ReceiptFacts]:
    rows = await Receipt.select().where(Receipt.batch_id == batch_id).order_by(Receipt.payment_id)
    return [_facts(r) for r in rows]


async def receipts_of_subject(subject_kind: str, subject_id: str) -> list[ReceiptFacts]:
    rows = await rows_of_subject(Receipt, subject_kind, subject_id, "payment_id")
    return [_facts(r) for r in rows]


async def write_batch_receipts(
    batch_id: int, out_dir: Path, *, renderer: ReceiptRenderer, processes: int = 2
) -> list[Path]:
    """`zhida batch receipts ID --out DIR`: the PDF of every settled payment of the batch, one file each."""
    facts_list = await receipts_of_batch(batch_id)
    return await asyncio.to_thread(write_receipts, facts_list, out_dir, renderer=renderer, processes=processes)


async def write_batch_receipts_zip(
    batch_id: int, zip_path: Path, *, renderer: ReceiptRenderer, processes: int = 2
) -> Path | None:
    """The auditor's ZIP of a batch's receipts (None when the batch has no settled payment)."""
    facts_list = await receipts_of_batch(batch_id)
    if not facts_list:
        return None
    return await asyncio.to_thread(write_receipts_zip, facts_list, zip_path, renderer=renderer, processes=processes)


def _codes_digest(facts_list: list[ReceiptFacts]) -> str:
    return hashlib.sha256(",".join(f.code for f in facts_list).encode()).hexdigest()[:16]


async def batch_zip_target(batch_id: int, renderer: ReceiptRenderer) -> tuple[Path, int, str] | None:
    """Where the ZIP of the batch's receipts as they stand now lives (path, receipt count, digest of their codes), or
    None when the batch has no receipt. The name carries the digest: a receipt issued later makes a new file."""
    facts_list = await receipts_of_batch(batch_id)
    if not facts_list:
        return None
    digest = _codes_digest(facts_list)
    return Path(renderer.data_dir) / "receipts" / "zips" / f"batch-{batch_id}-{digest}.zip", len(facts_list), digest


async def build_batch_receipts_zip(batch_id: int, *, renderer: ReceiptRenderer, processes: int = 2) -> Path | None:
    """The job's work (payments.build_receipts_zip): render what is not cached, write the ZIP, drop older ZIPs of the
    batch. None when the batch has no receipt."""
    target = await batch_zip_target(batch_id, renderer)
    if target is None:
        return None
    path = target[0]
    if not path.exists():
        facts_list = await receipts_of_batch(batch_id)
        await asyncio.to_thread(write_receipts_zip, facts_list, path, renderer=renderer, processes=processes)
    for old in path.parent.glob(f"batch-{batch_id}-*.zip"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
