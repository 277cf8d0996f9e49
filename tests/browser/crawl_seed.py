"""Work waiting for every role on top of `zhida demo`, for the browser crawl to press its buttons (issue 17).

`zhida demo` leaves little to do: every batch paid, one application. This adds, through the same services the web
UI calls: new subjects from the data exchange (some with an account the bank simulator refuses), their payable
entitlements, a run batch whose refusals wait in the exceptions queue, two batches waiting for approval, an approved
batch not run yet, two more applications awaiting review, open objections, account corrections awaiting
verification, two policy drafts in review and one draft not submitted, and a login-locked user.

Run as `python -m tests.browser.crawl_seed DATA_DIR` with ZHIDA_DATABASE_URL and ZHIDA_DATA_DIR of the demo; it prints
one line `seeded: {json}` with how many of each it made, and fails when one of them could not be made.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from app import jobs
from app.audit import SYSTEM, AuditActor
from app.cli.common import run
from app.cli.demo import DEMO_AS_OF
from app.config import get_settings
from app.controllers.applications import account_sync
from eligibility import service as eligibility
from eligibility import synthetic
from eligibility.importer import import_file
from eligibility.matcher import match_ruleset
from kit.vocab import Role
from payments import service as payments
from payments.tables import Entitlement
from payments.tasks import enqueue_chunks
from policies import service as policies
from policies.applications import service as applications
from policies.applications.accounts import confirm_account
from policies.applications.objections import raise_objection
from policies.applications.schemas import AccountConfirm, ObjectionCreate

SEED = 2026
REFUSED = "0005"  # the bank simulator answers ACCOUNT_CLOSED for an account ending so (simulator_config)
MAKER = AuditActor("maker", Role.FINANCE_MAKER)
CHECKERS = (AuditActor("checker", Role.FINANCE_CHECKER), AuditActor("checker2", Role.FINANCE_CHECKER))
OFFICER = AuditActor("officer2", Role.POLICY_OFFICER)  # not the crawl's officer: its own drafts it may not review
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _profiles(data_dir: Path) -> None:
    feed = AuditActor("data-exchange", "system")
    for kind, n in (("enterprise", 30), ("talent", 45)):
        rows = list(synthetic.generate(kind, n, seed=SEED))
        for p in rows[::3]:
            p["bank_account"] = p["bank_account"][:-4] + REFUSED
        path = data_dir / f"crawl-{kind}s.csv"
        synthetic.write_csv(kind, rows, str(path))
        await import_file(str(path), kind, actor=feed)
    for v in await policies.list_published():
        await match_ruleset(await policies.ruleset_of(v.id), DEMO_AS_OF, store=True, actor=SYSTEM, collect=False)
        if v.mode == "auto":
            await payments.refresh_entitlements(v.code, actor=MAKER)


async def _payable() -> dict[str, list[dict]]:
    rows = await Entitlement.select(Entitlement.id, Entitlement.policy_code, Entitlement.payee_account).where(
        (Entitlement.state == "payable") & Entitlement.batch_id.is_null()
    )
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["policy_code"], []).append(r)
    return out


async def _approve(batch_id: int) -> None:
    for checker in CHECKERS:
        if await payments.approve_batch(batch_id, actor=checker) == "approved":
            return


async def _batches() -> dict[str, int]:
    threshold = get_settings().second_checker_threshold_fen
    payable = await _payable()
    refused = next((c for c, rows in payable.items() if any(r["payee_account"].endswith(REFUSED) for r in rows)), None)
    made = {"run_with_refusals": 0, "awaiting_approval": 0, "approved_not_run": 0}
    if refused:  # a run whose refusals wait in the exceptions queue (重发 once corrected, 终止)
        created = await payments.create_batch(actor=MAKER, policy_code=refused, second_checker_threshold_fen=threshold)
        await _approve(created.batch_id)
        queue = await jobs.get_queue()
        await enqueue_chunks(queue, await payments.start_batch(created.batch_id, actor=CHECKERS[0]))
        while not (await payments.progress(created.batch_id)).done:
            await jobs.drain(max_jobs=8)
            await asyncio.sleep(0.1)
        made["run_with_refusals"] = 1
        payable.pop(refused)
    # One policy with the most left: one entitlement a batch, two waiting for approval (approve, reject), one
    # approved and not run (run), and what is left payable (生成代发批次).
    code, rows = max(payable.items(), key=lambda kv: len(kv[1]), default=("", []))
    if len(rows) < 4:
        raise SystemExit(f"crawl seed: {len(rows)} payable entitlements of {code or 'no policy'}, 4 wanted")
    for i, row in enumerate(rows[:3]):
        created = await payments.create_batch(
            actor=MAKER, policy_code=code, entitlement_ids=[row["id"]], second_checker_threshold_fen=threshold
        )
        if i == 2:
            await _approve(created.batch_id)
            made["approved_not_run"] += 1
        else:
            made["awaiting_approval"] += 1
    return made


async def _applications(data_dir: Path) -> int:
    settings = get_settings()
    applied = {(a.subject_kind, a.subject_id) for a in await applications.list_applications(limit=1000)}
    made = 0
    for v in await policies.list_published():
        if v.mode != "apply":
            continue
        for m in await eligibility.matches_for(v.id):
            if (m.subject_kind, m.subject_id) in applied or made >= 2:
                continue
            await applications.submit_application(
                v.id,
                m.subject_kind,
                m.subject_id,
                applicant=m.subject_id,
                statement="本人符合条件，申请享受。",
                files_in=[("证明材料.pdf", PDF)],
                attachments_dir=data_dir / "attachments",
                actor=AuditActor(m.subject_id, m.subject_kind),
                as_of=DEMO_AS_OF,
                four_eyes_threshold_fen=settings.application_four_eyes_threshold_fen,
                base_url=settings.base_url,
            )
            applied.add((m.subject_kind, m.subject_id))
            made += 1
            break
    return made


async def _objections_and_accounts() -> tuple[int, int]:
    """Paid subjects object to their payment (two), and two others correct their account."""
    paid = await Entitlement.select(Entitlement.id, Entitlement.subject_kind, Entitlement.subject_id).where(
        Entitlement.state == "paid"
    )
    objections = corrections = 0
    for row in paid[:2]:
        ent = await payments.get_entitlement(row["id"])
        actor = AuditActor(row["subject_id"], row["subject_kind"])
        data = ObjectionCreate(target="entitlement", target_id=row["id"], text="发放金额与政策规定不符，请核实。")
        await raise_objection(row["subject_kind"], row["subject_id"], data, actor=actor, entitlement=ent)
        objections += 1
    for i, row in enumerate(paid[2:4]):
        actor = AuditActor(row["subject_id"], row["subject_kind"])
        data = AccountConfirm(bank_name="中国工商银行南昌分行", account=f"62220200{i:08d}7")
        await confirm_account(row["subject_kind"], row["subject_id"], data, actor=actor, sync=account_sync(actor))
        corrections += 1
    return objections, corrections


async def _drafts() -> tuple[int, int]:
    """Three published policies get a new draft by officer2: two are submitted for review, one is not."""
    in_review = drafts = 0
    for v in (await policies.list_published())[:3]:
        draft = await policies.new_draft_from(v.id, OFFICER)
        if in_review < 2:
            await policies.submit(draft.id, OFFICER)
            in_review += 1
        else:
            drafts += 1
    return in_review, drafts


async def _lock(username: str) -> bool:
    from app.auth import throttle

    for i in range(100):  # wrong passwords from many sources, as the login page counts them
        source = f"192.0.2.{i}"
        await throttle.reserve_attempt(source, username)
        await throttle.attempt_failed(source, username)
        if await throttle.is_locked(username):
            return True
    return False


async def seed(data_dir: Path) -> dict[str, int]:
    await _profiles(data_dir)
    made = await _batches()
    made["applications"] = await _applications(data_dir)
    made["objections"], made["account_corrections"] = await _objections_and_accounts()
    made["policies_in_review"], made["policy_drafts"] = await _drafts()
    made["locked_users"] = int(await _lock("officer2"))
    return made


def main() -> None:
    made = run(seed, Path(sys.argv[1]))
    print("seeded: " + json.dumps(made))
    missing = [k for k, n in made.items() if not n]
    if missing:
        raise SystemExit(f"crawl seed: could not make {', '.join(missing)}")


if __name__ == "__main__":
    main()
