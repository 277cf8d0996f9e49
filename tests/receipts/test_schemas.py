"""Receipt facts: verification codes, the canonical digest, masking of personal data."""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from payments.receipts.schemas import (
    CROCKFORD_ALPHABET,
    ReceiptFacts,
    canonical_json,
    facts_digest,
    is_verification_code,
    mask_account,
    mask_id_number,
    mask_name,
    new_verification_code,
    normalize_verification_code,
)
from tests.receipts.factories import receipt_facts


def test_codes_are_16_crockford_characters_and_distinct():
    codes = {new_verification_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 16 and set(c) <= set(CROCKFORD_ALPHABET) for c in codes)


def test_code_normalisation_accepts_look_alikes():
    code = "AB01CD1EFG0HJK1M"
    assert (
        normalize_verification_code(
            "ab-oi-cd-le-fg-oh-jk-lm".replace("oi", "0I").replace("le", "1E").replace("oh", "OH").replace("lm", "LM")
        )
        == code
    )
    assert is_verification_code(code)
    assert not is_verification_code("ABCDEFGHIJKLMNOU")


def test_digest_is_stable_across_time_zones_and_round_trips():
    facts = receipt_facts()
    shanghai = timezone(timedelta(hours=8))
    same = facts.model_copy(update={"settled_at": facts.settled_at.astimezone(shanghai)})
    assert facts_digest(same) == facts_digest(facts)
    assert facts_digest(ReceiptFacts.model_validate_json(canonical_json(facts))) == facts_digest(facts)
    assert facts_digest(facts.model_copy(update={"amount": Decimal("16409.03")})) != facts_digest(facts)


def test_amount_must_be_positive_fen():
    with pytest.raises(ValidationError):
        receipt_facts(amount=Decimal("0"))
    with pytest.raises(ValidationError):
        receipt_facts(amount=Decimal("1.005"))
    assert receipt_facts(amount=Decimal("5")).amount == Decimal("5.00")


def test_times_must_be_aware():
    from datetime import datetime

    with pytest.raises(ValidationError):
        receipt_facts(settled_at=datetime(2026, 11, 20, 10, 0))


def test_masking():
    assert mask_name("张晓明") == "张*明"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_account("6222 0212 3456 7890 123") == "6222****0123"
    assert mask_id_number("36010219900101123X") == "360***********123X"
    assert "19900101" not in mask_id_number("36010219900101123X")
