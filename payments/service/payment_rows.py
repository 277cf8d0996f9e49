"""A new batch, and a new payment's row: its columns for the bulk insert, its starting values, and its idempotency
key."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from kit.audit import Actor
from kit.vocab import BatchStatus, PaymentException, PaymentStatus
from payments.tables import Batch

PAYMENT_COLUMNS = (
    "batch_id",
    "entitlement_id",
    "attempt",
    "reissue_of",
    "version_id",
    "policy_code",
    "subject_kind",
    "subject_id",
    "payee_name",
    "payee_account",
    "amount_fen",
    "request_id",
    "status",
    "tries",
    "due_ms",
    "claimed_by",
    "claimed_until_ms",
    "bank_transfer_id",
    "reason",
    "exception",
    "settled_on",
    "created_at",
    "updated_at",
)


def new_payment_row(
    batch_id: int,
    entitlement_id: int,
    attempt: int,
    reissue_of: int | None,
    version_id: int,
    policy_code: str,
    subject_kind: str,
    subject_id: str,
    payee_name: str,
    payee_account: str,
    amount_fen: int,
    request_id: str,
    at: dt.datetime,
) -> tuple[Any, ...]:
    """A new payment's row in PAYMENT_COLUMNS order: created, never tried, in no exception."""
    return (
        batch_id,
        entitlement_id,
        attempt,
        reissue_of,
        version_id,
        policy_code,
        subject_kind,
        subject_id,
        payee_name,
        payee_account,
        amount_fen,
        request_id,
        PaymentStatus.CREATED.value,
        0,
        0,
        None,
        0,
        "",
        "",
        PaymentException.NONE.value,
        "",
        at,
        at,
    )


def request_id_for(entitlement_key: str, attempt: int) -> str:
    """The bank's idempotency key, derived from what is paid (the entitlement's key: policy code, period, subject and
    top-up number) and the attempt: the same for every retry of this payment, even from a restored database, and a new
    one only for a re-issue (a new attempt) or another entitlement. Payments made before entitlements were keyed by
    policy code keep the key they were sent with (hashed from "code@version|…", which no entitlement key contains)."""
    digest = hashlib.sha256(f"entitlement|{entitlement_key}|{attempt}".encode()).hexdigest()
    return f"ZD{digest[:40]}"


async def new_batch(
    policy_code: str,
    title: str,
    actor: Actor,
    amounts_fen: list[int],
    second_checker_threshold_fen: int,
    at: dt.datetime,
    reissue: bool = False,
) -> Batch:
    """A new batch (created, waiting for a checker) of payments of these amounts, saved: a total above the threshold
    needs a second checker."""
    total = sum(amounts_fen)
    batch = Batch(
        policy_code=policy_code,
        title=title,
        status=BatchStatus.CREATED,
        maker=actor.name,
        total_fen=total,
        payment_count=len(amounts_fen),
        needs_second_checker=total > second_checker_threshold_fen,
        created_at=at,
        reissue=reissue,
    )
    await batch.save()
    return batch
