"""Generated data for the risk rules (风险拦截): a background of ordinary enterprises and talents that no rule flags
under the default thresholds, and helpers to plant the cases each rule must find (and the near misses it must not)."""

from __future__ import annotations

import datetime as dt
import itertools

from eligibility.tables import EnterpriseProfile, TalentProfile
from kit.time import now
from payments.schemas import EntitlementCreate, PolicyFacts
from payments.service import record_entitlements
from payments.tables import Entitlement
from policies.applications.tables import SubjectAccount
from tests.payments.factories import SYSTEM, policy

_n = itertools.count(1)
BACKGROUND = 30


def uscc(i: int) -> str:
    return f"91360100{i:09d}X"


def id_number(i: int) -> str:
    return f"36010219900101{i:04d}"


def account(kind: str, i: int) -> str:
    return f"6222{'1' if kind == 'enterprise' else '2'}{i:010d}1"


async def enterprise(
    i: int,
    *,
    founded: int = 20150301,
    employees: int = 50,
    insurance_fen: int | None = 1_200_000,
    tax_paid_fen: int = 1_000_000_000,
) -> str:
    sid = uscc(i)
    await EnterpriseProfile.insert(
        EnterpriseProfile(
            subject_id=sid, name=f"企业{i}", region_code="360106", industry_code="I6513", scale="small",
            founded_on_ymd=founded, employees=employees, revenue_fen=10**10, tax_paid_fen=tax_paid_fen,
            unemployment_insurance_paid_fen=insurance_fen, high_tech=False, specialized="none", credit_rating="A",
            blacklisted=False, bank_name="中国银行南昌分行", bank_account=account("enterprise", i), digest=f"e{i}",
            updated_at=now(),
        )
    )  # fmt: skip
    return sid


async def talent(i: int, *, employer: str | None = None) -> str:
    sid = id_number(i)
    await TalentProfile.insert(
        TalentProfile(
            subject_id=sid, name=f"人才{i}", region_code="360102", education="master", arrived_on_ymd=20240901,
            social_insurance_months=12, employer_uscc=employer, bank_name="中国银行南昌分行",
            bank_account=account("talent", i), birth_on_ymd=19900101, digest=f"t{i}", updated_at=now(),
        )
    )  # fmt: skip
    return sid


def facts(
    *,
    subject: str,
    group: str | None = None,
    issuer: str = "南昌市人力资源和社会保障局",
    effective_from: dt.date = dt.date(2025, 1, 1),
) -> PolicyFacts:
    f = policy(f"RISK-{next(_n)}", budget_fen=10**13, subject=subject, group=group, effective_from=effective_from)
    return f.model_copy(update={"issuer": issuer})


async def entitle(f: PolicyFacts, kind: str, sid: str, amount_fen: int, acct: str) -> int:
    """One payable entitlement of ``sid`` under ``f``, paid to ``acct``; its id."""
    await record_entitlements(
        f,
        [
            EntitlementCreate(
                subject_kind=kind, subject_id=sid, amount_fen=amount_fen, clause_codes=["main"], source="auto",
                source_ref=f"m-{sid}", payee_name="收款人", bank_name="中国银行南昌分行", payee_account=acct,
                account_verified=True,
            )
        ],
        actor=SYSTEM,
    )  # fmt: skip
    row = (
        await Entitlement.select(Entitlement.id)
        .where((Entitlement.version_id == f.version_id) & (Entitlement.subject_id == sid))
        .first()
    )
    assert row is not None
    return int(row["id"])


async def portal_account(
    kind: str, sid: str, acct: str, *, source: str = "corrected", days_ago: int, verified_by: str = "checker9"
) -> None:
    at = now() - dt.timedelta(days=days_ago)
    await SubjectAccount.insert(
        SubjectAccount(
            subject_key=f"{kind}:{sid}", subject_kind=kind, subject_id=sid, payee_name="收款人",
            bank_name="中国银行南昌分行", account=acct, status="verified", source=source, confirmed_by=sid,
            confirmed_at=at, verified_by=verified_by, verified_at=at,
        )
    )  # fmt: skip


async def background() -> dict[str, list[int]]:
    """BACKGROUND talents (5,000.00 yuan each, an employer per three talents) and BACKGROUND enterprises
    (20,000.00 yuan each, founded 2015, insured staff, ample tax): payable, each its own account; no rule flags them."""
    tal, ent = facts(subject="talent"), facts(subject="enterprise")
    out: dict[str, list[int]] = {"talent": [], "enterprise": []}
    for i in range(BACKGROUND):
        employer = await enterprise(9000 + i)
        e_id = await entitle(ent, "enterprise", employer, 2_000_000, account("enterprise", 9000 + i))
        out["enterprise"].append(e_id)
    for i in range(BACKGROUND):
        sid = await talent(9000 + i, employer=uscc(9000 + i // 3))
        out["talent"].append(await entitle(tal, "talent", sid, 500_000, account("talent", 9000 + i)))
    # Old corrections of background accounts: long before the window, verified by nobody who makes batches.
    for i in range(0, BACKGROUND, 5):
        await portal_account("talent", id_number(9000 + i), account("talent", 9000 + i), days_ago=60)
    return out
