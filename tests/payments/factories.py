"""Test data of payments: published-version facts, entitlements, finance actors, an in-process bank."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from types import SimpleNamespace

from app.audit import AuditActor
from payments.schemas import EntitlementCreate, PolicyFacts
from payments.service import record_entitlements

MAKER = AuditActor("maker1", "finance_maker")
MAKER2 = AuditActor("maker2", "finance_maker")
CHECKER = AuditActor("checker1", "finance_checker")
CHECKER2 = AuditActor("checker2", "finance_checker")
SYSTEM = AuditActor("system", "system")
THRESHOLD_FEN = 100_000_000  # 1,000,000.00 yuan
_versions = itertools.count(1000)


def policy(
    code: str | None = None,
    budget_fen: int = 10_000_000_00,
    *,
    version_id: int | None = None,
    group: str | None = None,
    effective_from: dt.date = dt.date(2025, 1, 1),
    mode: str = "auto",
    subject: str = "talent",
    version: int = 1,
    once: str = "lifetime",
    top_up: bool = False,
    publicity_days: int = 0,
) -> PolicyFacts:
    version_id = version_id or next(_versions)
    code = code or f"TEST-{version_id}"  # (code, version number) names a version, as in policies/
    return PolicyFacts(
        version_id=version_id,
        code=code,
        version=version,
        title=f"{code} 补贴",
        issuer="南昌市人力资源和社会保障局",
        subject=subject,
        mode=mode,
        budget_fen=budget_fen,
        exclusive_group=group,
        effective_from=effective_from,
        clause_titles={"main": "主条款"},
        once=once,
        top_up=top_up,
        publicity_days=publicity_days,
    )


def account_of(i: int) -> str:
    # The simulator rejects accounts ending 0004/0005/0006 by default; keep clear of them unless a test wants it.
    return f"62220200{i:08d}1"


def payee(
    i: int,
    amount_fen: int = 100_000,
    *,
    kind: str = "talent",
    account: str | None = None,
    verified: bool = True,
    as_of: dt.date | None = None,
) -> EntitlementCreate:
    return EntitlementCreate(
        subject_kind=kind,
        subject_id=f"36010219900101{i:04d}",
        amount_fen=amount_fen,
        clause_codes=["main"],
        source="auto",
        source_ref=f"m{i}",
        payee_name=f"张{i}",
        bank_name="中国银行南昌分行",
        payee_account=account or account_of(i),
        account_verified=verified,
        as_of=as_of,
    )


async def entitled(facts: PolicyFacts, n: int, amount_fen: int = 100_000, start: int = 0) -> None:
    await record_entitlements(facts, [payee(start + i, amount_fen) for i in range(n)], actor=SYSTEM)


def bank_settings(data_dir: Path, timeout: float = 5.0):
    return SimpleNamespace(
        bank_url=None,
        bank_secret="test-bank-secret",
        bank_timeout_seconds=timeout,
        data_dir=data_dir,
        payer_account="360100000000000001",
        payer_name="南昌市财政局",
    )


async def approved_batch(facts: PolicyFacts):
    """The batch MAKER makes of the policy's payable entitlements, approved by CHECKER (one approval below
    THRESHOLD_FEN): its BatchCreated."""
    from payments.service import approve_batch, create_batch

    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await approve_batch(made.batch_id, actor=CHECKER)
    return made


async def run_all(adapter, batch_id: int, **kw) -> None:
    """Run an approved batch to its end in this process: every chunk the runner hands out, paid in order."""
    from payments.service import pay_range, start_batch
    from payments.service.transfer import RunnerOptions

    opts = RunnerOptions(payer_account="360100000000000001", payer_name="南昌市财政局", **kw)
    for chunk in await start_batch(batch_id, actor=SYSTEM, chunk_size=50):
        await pay_range(adapter, batch_id, chunk.first_id, chunk.last_id, opts=opts, actor=SYSTEM)
