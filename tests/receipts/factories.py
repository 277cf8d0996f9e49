"""Receipt facts for tests and benchmarks (a settled talent payment and an enterprise one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from payments.receipts.schemas import ReceiptFacts, mask_account, mask_id_number, mask_name, new_verification_code


def receipt_facts(**overrides) -> ReceiptFacts:
    settled = datetime(2026, 11, 20, 2, 15, 30, tzinfo=UTC)
    values = dict(
        code=new_verification_code(),
        payment_id=1042,
        batch_id=7,
        policy_code="NC-TALENT-HOUSING-2026",
        policy_title="南昌市高层次人才安居补贴",
        policy_version=2,
        clause_codes=["doctor", "young"],
        clause_titles=["博士研究生安居补贴", "青年人才加发部分"],
        issuer="南昌市人力资源和社会保障局",
        payer_name="南昌市财政局国库集中支付专户",
        payer_account_masked=mask_account("360100000000000001"),
        payee_kind="talent",
        payee_name=mask_name("张晓明"),
        payee_id_masked=mask_id_number("36010219900101123X"),
        payee_account_masked=mask_account("6222021234567890123"),
        amount=Decimal("16409.02"),
        bank_transfer_id="BK20261120000123456",
        request_id="zhida-7-1042-1",
        settled_at=settled,
        issued_at=settled + timedelta(seconds=1),
    )
    values.update(overrides)
    return ReceiptFacts(**values)
