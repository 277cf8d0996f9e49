"""`zhida demo`: the main job on the embedded default, end to end, then the web UI.

Each step calls the same services as the CLI and the web UI; every step is idempotent, so running the demo
again on the same database adds what is missing and pays nothing twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from pathlib import Path

import click
import uvicorn

from app import jobs
from app.audit import SYSTEM, AuditActor, verify
from app.auth.service import create_user, get_user
from app.cli.common import run
from app.config import get_settings
from app.db import migrate
from app.flows import notify_matches
from eligibility import service as eligibility
from eligibility import synthetic
from eligibility.importer import import_file
from eligibility.matcher import match_ruleset
from kit.money import format_yuan
from kit.time import china_today
from kit.vocab import Role
from notifications import service as notifications
from notifications.schemas import RecipientUpsert
from notifications.sinks import DemoSinks, start_demo_sinks
from payments import service as payments
from payments.adapters import get_adapter
from payments.errors import PaymentsError
from payments.receipts.bulk import ReceiptRenderer, write_receipts
from payments.tasks import enqueue_chunks
from policies import service as policies
from policies.applications import service as applications
from policies.packs import bundled_pack_paths

DEMO_PASSWORD = "Zhida-demo-2025"
DEMO_STAFF = [
    ("officer", Role.POLICY_OFFICER, "王政策（政策专员）"),
    ("officer2", Role.POLICY_OFFICER, "刘政策（政策专员）"),
    ("reviewer", Role.POLICY_REVIEWER, "李审核（政策审核）"),
    ("maker", Role.FINANCE_MAKER, "张财务（制单）"),
    ("checker", Role.FINANCE_CHECKER, "赵财务（复核）"),
    ("checker2", Role.FINANCE_CHECKER, "钱财务（复核）"),
    ("auditor", Role.AUDITOR, "孙审计"),
    ("admin", Role.ADMIN, "系统管理员"),
    ("hotline", Role.HOTLINE, "周热线（12345坐席）"),
]
# The bundled packs model the 2025 policy year; the demo evaluates eligibility on a date inside it.
DEMO_AS_OF = dt.date(2025, 6, 30)
DEMO_RECEIPTS = 20


async def ensure_demo_users() -> list[tuple[str, Role]]:
    made = []
    for name, role, display in DEMO_STAFF:
        if await get_user(name) is None:
            await create_user(name, role, DEMO_PASSWORD, display_name=display)
        made.append((name, role))
    return made


class Steps:
    """Prints each step with how long it took."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def say(self, text: str) -> None:
        click.echo(f"[{time.monotonic() - self.t0:6.1f}s] {text}")


async def _policies(steps: Steps, as_of: dt.date) -> list:
    officer, reviewer = AuditActor("officer", Role.POLICY_OFFICER), AuditActor("reviewer", Role.POLICY_REVIEWER)
    published = {v.code for v in await policies.list_published()}
    paths = bundled_pack_paths()
    for path in paths:
        await policies.load_pack(path, officer)
    for row in await policies.list_policies():
        if row["code"] not in published:
            # The demo replays a day (--as-of) of policies in effect then: their periods are judged on that day. It
            # matches and notifies itself once the profiles are in (below), so it publishes without queueing.
            await policies.publish(row["code"], reviewer, as_of=as_of, today=as_of)
    versions = await policies.list_published()
    steps.say(f"policies: {len(paths)} bundled packs loaded by officer, {len(versions)} published by reviewer")
    return versions


async def _profiles(steps: Steps, n: int, data_dir: Path) -> None:
    feed = AuditActor("data-exchange", "system")
    n_ent = n * 2 // 5
    for kind, count in (("enterprise", n_ent), ("talent", n - n_ent)):
        path = data_dir / f"demo-{kind}s.csv"
        synthetic.write_csv(kind, synthetic.generate(kind, count, seed=2025), str(path))
        r = await import_file(str(path), kind, actor=feed)
        steps.say(
            f"profiles: {count} synthetic {kind} profiles from the data exchange: {r.inserted} inserted, "
            f"{r.updated} updated, {r.unchanged} unchanged, {r.rejected} rejected"
        )


async def _match(steps: Steps, versions: list, as_of: dt.date) -> None:
    total = 0
    for v in versions:
        result = await match_ruleset(await policies.ruleset_of(v.id), as_of, store=True, actor=SYSTEM, collect=False)
        total += result.matched
    steps.say(f"matching: {total} matches over {len(versions)} policies as of {as_of} (stored, idempotent)")


async def _notify(steps: Steps, versions: list) -> None:
    queue = await jobs.get_queue()
    written = 0
    for v in versions:
        written += await notify_matches(v.id, actor=SYSTEM, queue=queue)
    await jobs.drain()
    steps.say(f"notices: {written} new notices, one per subject and policy, in the portal inbox (服务找人)")


async def _contacts(versions: list, sinks: DemoSinks) -> int:
    """Give a few matched subjects email, SMS and webhook contacts pointing at the demo sinks."""
    chosen = []
    for v in versions:
        for m in (await eligibility.matches_for(v.id))[:3]:
            chosen.append(m)
    for i, m in enumerate(chosen):
        await notifications.upsert_recipient(
            RecipientUpsert(
                kind=m.subject_kind,
                subject_id=m.subject_id,
                display_name=m.name or m.subject_id,
                email=f"demo{i}@example.gov.cn",
                phone=f"1380000{i:04d}",
                webhook_url=sinks.webhook_url,
            ),
            actor=SYSTEM,
        )
    return len(chosen)


async def _pay(steps: Steps, versions: list) -> list[int]:
    maker, checker, checker2 = (
        AuditActor("maker", Role.FINANCE_MAKER),
        AuditActor("checker", Role.FINANCE_CHECKER),
        AuditActor("checker2", Role.FINANCE_CHECKER),
    )
    batch_ids = []
    for v in versions:
        if v.mode != "auto":
            continue
        await payments.refresh_entitlements(v.code, actor=maker)
        try:
            created = await payments.create_batch(
                actor=maker,
                policy_code=v.code,
                second_checker_threshold_fen=get_settings().second_checker_threshold_fen,
            )
        except PaymentsError:
            continue  # nothing payable left (already batched on an earlier run, or no verified account)
        status = await payments.approve_batch(created.batch_id, actor=checker)
        if status != "approved":
            await payments.approve_batch(created.batch_id, actor=checker2)
        batch_ids.append(created.batch_id)
    queue = await jobs.get_queue()
    for batch_id in batch_ids:
        await enqueue_chunks(queue, await payments.start_batch(batch_id, actor=checker))
    while True:
        await jobs.drain(max_jobs=8)
        progress = [await payments.progress(b) for b in batch_ids]
        if all(p.done for p in progress):
            break
        await asyncio.sleep(0.2)
    settled = sum(p.counts.get("settled", 0) for p in progress)
    total = sum(sum(p.counts.values()) for p in progress)
    paid_fen = sum(p.totals_fen.get("settled", 0) for p in progress)
    steps.say(
        f"payments: {len(batch_ids)} batches made by maker, approved by checker (two checkers above the "
        f"threshold), {settled} of {total} payments settled through the bank simulator, "
        f"¥{format_yuan(paid_fen)} paid (秒到账)"
    )
    return batch_ids


async def _receipts(steps: Steps, batch_ids: list[int], data_dir: Path) -> Path | None:
    facts = []
    for b in batch_ids:
        facts.extend(await payments.receipts_of_batch(b))
    if not facts:
        return None
    out = data_dir / "demo-receipts"
    paths = write_receipts(
        facts[:DEMO_RECEIPTS], out, renderer=ReceiptRenderer.from_settings(get_settings()), processes=2
    )
    steps.say(
        f"receipts: {len(facts)} receipt records; {len(paths)} signed PDFs rendered into {out} "
        f"(the rest render on demand)"
    )
    return out


async def _reconcile(steps: Steps) -> None:
    today = china_today()
    adapter = get_adapter(get_settings())
    try:
        result = await payments.reconcile(adapter, today, actor=AuditActor("checker", Role.FINANCE_CHECKER))
    finally:
        await adapter.aclose()
    steps.say(
        f"reconciliation {today}: {result.bank_lines} bank statement lines, {result.matched} matched, "
        f"{len(result.differences)} differences"
    )


async def _portal_accounts(versions: list) -> list[tuple[str, str, str]]:
    """An enterprise and a talent account (by subject id) for a few matched subjects."""
    accounts: list[tuple[str, str, str]] = []
    wanted = {("enterprise", "auto"): 1, ("talent", "auto"): 1, ("talent", "apply"): 1, ("enterprise", "apply"): 1}
    for v in versions:
        key = (v.subject, v.mode)
        if wanted.get(key, 0) <= 0:
            continue
        for m in await eligibility.matches_for(v.id):
            if any(m.subject_id == a[0] for a in accounts):
                continue
            if await get_user(m.subject_id) is None:
                await create_user(m.subject_id, m.subject_kind, DEMO_PASSWORD, display_name=m.name or m.subject_id)
            accounts.append((m.subject_id, m.subject_kind, v.title))
            wanted[key] -= 1
            break
    return accounts


async def _pending_application(steps: Steps, versions: list, portal: list, data_dir: Path, as_of: dt.date) -> None:
    """One talent applies to an apply-mode policy (依申请), so the officers' review queue has work."""
    settings = get_settings()
    by_title = {v.title: v for v in versions if v.mode == "apply"}
    for subject_id, kind, title in portal:
        v = by_title.get(title)
        if v is None or kind != "talent":
            continue
        if any(a.version_id == v.id for a in await applications.applications_of_subject(kind, subject_id)):
            return
        await applications.submit_application(
            v.id,
            kind,
            subject_id,
            applicant=subject_id,
            statement="演示申请：本人符合条件，附学位证书。",
            files_in=[("学位证书.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")],
            attachments_dir=data_dir / "attachments",
            actor=AuditActor(subject_id, kind),
            as_of=as_of,
            four_eyes_threshold_fen=settings.application_four_eyes_threshold_fen,
            base_url=settings.base_url,
        )
        steps.say(
            f"applications: one talent applied to 「{v.title}」 with an attachment; officers review it at /applications"
        )
        return


async def _demo(profiles: int, as_of: dt.date, sinks: DemoSinks | None) -> dict:
    steps = Steps()
    data_dir = Path(get_settings().data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    await migrate()
    users = await ensure_demo_users()
    steps.say(f"database {get_settings().database_url} migrated; {len(users)} demo staff accounts")
    versions = await _policies(steps, as_of)
    await _profiles(steps, profiles, data_dir)
    await _match(steps, versions, as_of)
    contacts = await _contacts(versions, sinks) if sinks else 0
    await _notify(steps, versions)
    if contacts:
        steps.say(
            f"notices: {contacts} demo subjects also got email (SMTP sink), SMS and webhook copies in "
            f"{data_dir / 'outbox'}"
        )
    batch_ids = await _pay(steps, versions)
    receipts_dir = await _receipts(steps, batch_ids, data_dir)
    await _reconcile(steps)
    portal = await _portal_accounts(versions)
    await _pending_application(steps, versions, portal, data_dir, as_of)
    chain = await verify()
    steps.say(f"audit trail: {chain.checked} entries, hash chain {'intact' if chain.ok else 'BROKEN'}")
    return {"users": users, "portal": portal, "receipts": receipts_dir}


@click.command()
@click.option("--profiles", default=10000, show_default=True, type=int, help="synthetic profiles to generate")
@click.option("--no-serve", is_flag=True, help="print the summary and stop instead of serving the web UI")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=DEMO_AS_OF.isoformat(),
    show_default=True,
    help="evaluation date for matching (inside the bundled policies' effective dates)",
)
def demo(profiles: int, no_serve: bool, port: int, as_of: dt.datetime) -> None:
    """The main job on the embedded default: database, policies, profiles, matches, notices, payments, receipts."""
    if profiles < 10:
        raise click.BadParameter("at least 10 profiles", param_hint="--profiles")
    settings = get_settings()
    sinks = None
    if not settings.smtp_host and not settings.sms_url:
        sinks = start_demo_sinks(
            settings.data_dir, sms_secret=settings.sms_secret, webhook_secret=settings.webhook_secret
        )
        for key, value in sinks.settings_overrides.items():
            os.environ[f"ZHIDA_{key.upper()}"] = str(value)
        get_settings.cache_clear()
    click.echo("Zhida 政策直达 demo — embedded mode: SQLite, in-process jobs, in-process bank simulator")
    summary = run(_demo, profiles, as_of.date(), sinks)
    click.echo("")
    click.echo(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for name, role in summary["users"]:
        click.echo(f"  {name:<20} {role}")
    for subject_id, kind, title in summary["portal"]:
        click.echo(f"  {subject_id:<20} {kind} (matched: {title})")
    if summary["receipts"]:
        click.echo(f"Receipts (回单): {summary['receipts']}")
    if no_serve:
        if sinks:
            sinks.stop()
        return
    click.echo(f"Serving the web UI on http://127.0.0.1:{port}  (Ctrl-C to stop)")

    try:
        uvicorn.run("app.main:create_app", factory=True, host="127.0.0.1", port=port, log_level="warning")
    finally:
        if sinks:
            sinks.stop()


def register(main: click.Group) -> None:
    main.add_command(demo)
