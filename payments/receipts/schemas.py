"""The facts a receipt (回单) states, their canonical digest, verification codes and masking helpers."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

from kit.masking import mask_account, mask_id_number, mask_name  # noqa: F401 - receipts mask with the one rule

# Crockford base32: no I, L, O, U, so a code read aloud or typed from paper is unambiguous.
CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
VERIFICATION_CODE_LENGTH = 16  # 80 bits: not guessable, short enough to type


def new_verification_code() -> str:
    """A fresh random verification code: 16 characters of Crockford base32 (80 bits)."""
    return "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(VERIFICATION_CODE_LENGTH))


_LOOK_ALIKES = str.maketrans("OIL", "011")


def normalize_verification_code(code: str) -> str:
    """Uppercase and map the look-alikes Crockford allows (O→0, I/L→1); strips spaces and dashes."""
    code = code.strip().upper().replace("-", "").replace(" ", "")
    return code.translate(_LOOK_ALIKES)


def is_verification_code(code: str) -> bool:
    return len(code) == VERIFICATION_CODE_LENGTH and all(c in CROCKFORD_ALPHABET for c in code)


class ReceiptFacts(BaseModel):
    """Everything printed on one payment's receipt; personal fields arrive already masked."""

    model_config = ConfigDict(frozen=True)

    code: str
    payment_id: int
    batch_id: int
    policy_code: str
    policy_title: str
    policy_version: int
    clause_codes: list[str]
    clause_titles: list[str]
    issuer: str
    payer_name: str
    payer_account_masked: str
    payee_kind: Literal["enterprise", "talent"]
    payee_name: str
    payee_id_masked: str
    payee_account_masked: str
    amount: Decimal
    bank_transfer_id: str
    # Printed on receipts issued before 2026-11-22 only: it is derived from the payee's ID number with no secret, so
    # with the masked ID beside it the whole number could be found by trying the few million candidates.
    request_id: str | None = None
    settled_at: AwareDatetime
    issued_at: AwareDatetime

    @field_validator("amount")
    @classmethod
    def _amount_in_fen(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0:
            raise ValueError("a receipt's amount must be a positive number of yuan")
        if value != value.quantize(Decimal("0.01")):
            raise ValueError("a receipt's amount has at most 2 decimals (fen)")
        return value.quantize(Decimal("0.01"))

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        if not is_verification_code(value):
            raise ValueError("a verification code is 16 characters of Crockford base32")
        return value


def _canonical(facts: ReceiptFacts) -> dict:
    data = facts.model_dump()
    if data["request_id"] is None:  # receipts issued since it was dropped hash without it; older ones as they were
        del data["request_id"]
    data["amount"] = f"{facts.amount:.2f}"
    for key in ("settled_at", "issued_at"):
        # UTC with microseconds so the same instant in any zone hashes the same
        data[key] = getattr(facts, key).astimezone(UTC).isoformat(timespec="microseconds")
    return data


def canonical_json(facts: ReceiptFacts) -> bytes:
    """The facts as canonical JSON: sorted keys, no spaces, UTF-8, amount as a 2-decimal string, times in UTC."""
    return json.dumps(_canonical(facts), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def facts_digest(facts: ReceiptFacts) -> str:
    """sha256 (hex) of the canonical JSON of the facts: the receipt's content identity."""
    return hashlib.sha256(canonical_json(facts)).hexdigest()
