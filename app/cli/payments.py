"""Commands of payments/: batches (create, approve, reject, cancel, run, receipts, list, show), the exceptions
queue (payments exceptions, reissue, abandon, return) and reconciliation."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

import click

from app import jobs
from app.cli.common import EXIT_PARTIAL, EXIT_REFUSED, actor_of, cli_operator, progress_enabled, refuse, run, run_as
from app.config import get_settings
from kit.money import fen_to_yuan, format_yuan, yuan_to_fen
from kit.vocab import Role
from payments import service
from payments.adapters import get_adapter
from payments.receipts.bulk import ReceiptRenderer, write_receipts
from payments.tasks import enqueue_chunks


def _threshold_fen() -> int:
    return yuan_to_fen(get_settings().second_checker_threshold)


@click.group("batch")
def batch_group() -> None:
    """Disbursement batches (代发批次)."""


@batch_group.command("create")
@click.argument("code", required=False)
@click.option("--actor", required=True, help="the finance_maker making the batch")
@click.option(
    "--entitlement",
    "entitlements",
    multiple=True,
    type=int,
    help="make the batch from these entitlement ids instead of a whole policy (repeat the option)",
)
@click.option("--no-refresh", is_flag=True, help="do not take new matches of the policy before making the batch")
def batch_create(code: str | None, actor: str, entitlements: tuple[int, ...], no_refresh: bool) -> None:
    """A batch of the policy's payable entitlements not yet in a batch. Prints the batch id."""
    if not code and not entitlements:
        raise click.UsageError("give a policy CODE or --entitlement ids")

    async def _main():
        who = await actor_of(actor)
        if who.role != Role.FINANCE_MAKER:
            refuse(f"only a finance_maker may create a disbursement batch; {who.name} is {who.role}")
        refreshed = None
        if code and not no_refresh:
            refreshed = await service.refresh_entitlements(code, actor=who)
        created = await service.create_batch(
            actor=who,
            policy_code=code,
            entitlement_ids=list(entitlements) or None,
            second_checker_threshold_fen=_threshold_fen(),
        )
        return refreshed, created

    refreshed, created = run(_main)

    if refreshed:
        click.echo(f"entitlements: {refreshed.get('inserted', 0)} new, {refreshed.get('updated', 0)} updated", err=True)
    click.echo(
        f"batch {created.batch_id}: {created.payment_count} payments, ¥{format_yuan(created.total_fen)}"
        + ("; needs two checkers" if created.needs_second_checker else ""),
        err=True,
    )
    if created.left_for_budget:
        click.echo(f"warning: {created.left_for_budget} payable entitlements left out: the budget is used up", err=True)
    if created.risk_held:
        click.echo(
            f"warning: {created.risk_held} payable entitlements held by a risk flag until an auditor clears it "
            "(`zhida risk list`)",
            err=True,
        )
    if created.held_out:
        click.echo(
            f"{created.held_out} entitlements held out on re-verification (no longer eligible, or the amount "
            "changed): `zhida payments held`",
            err=True,
        )
    if created.in_publicity:
        click.echo(
            f"{created.in_publicity} payable entitlements left out: still in their publicity period (公示) or held by "
            "an open objection; they are payable once the period ends and the objection is decided",
            err=True,
        )
    click.echo(created.batch_id)


@batch_group.command("accept-amount")
@click.argument("entitlement_id", type=int)
@click.option("--actor", required=True, help="the finance_maker accepting the new amount")
def batch_accept_amount(entitlement_id: int, actor: str) -> None:
    """Accept the amount a subject qualifies for now (an entitlement whose amount changed on re-verification); it
    is then payable in the next batch."""
    fen = run_as(actor, service.accept_amount, entitlement_id)
    click.echo(f"entitlement {entitlement_id}: ¥{format_yuan(fen)} accepted; payable in the next batch")


@batch_group.command("approve")
@click.argument("batch_id", type=int)
@click.option("--actor", required=True)
def batch_approve(batch_id: int, actor: str) -> None:
    """The checker's approval (not the maker; above the threshold a second, different checker)."""
    status = run_as(actor, service.approve_batch, batch_id)
    click.echo(
        f"batch {batch_id} {'approved' if status == 'approved' else 'approved once: a second checker must approve it'}"
    )


@batch_group.command("reject")
@click.argument("batch_id", type=int)
@click.option("--actor", required=True)
@click.option("--reason", required=True)
def batch_reject(batch_id: int, actor: str, reason: str) -> None:
    """A checker sends the batch back; its budget reservation is released."""
    run_as(actor, service.reject_batch, batch_id, reason=reason)
    click.echo(f"batch {batch_id} rejected")


@batch_group.command("cancel")
@click.argument("batch_id", type=int)
@click.option("--actor", required=True)
@click.option("--reason", default="")
def batch_cancel(batch_id: int, actor: str, reason: str) -> None:
    """Cancel a batch before it runs; its budget reservation is released."""
    run_as(actor, service.cancel_batch, batch_id, reason=reason)
    click.echo(f"batch {batch_id} cancelled")


@batch_group.command("list")
@click.option("--status", default=None)
def batch_list(status: str | None) -> None:
    """Batches, newest first, with totals and payment counts by status."""
    for b in run(service.list_batches, status):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(b.status_counts.items()))
        click.echo(
            f"{b.id}\t{b.status}\t{b.policy_code or b.title}\t{b.payment_count}\t{b.total:.2f}\t"
            f"maker {b.maker}\tchecker {b.checker or '-'}{(' + ' + b.second_checker) if b.second_checker else ''}"
            f"\t{counts}"
        )


@batch_group.command("show")
@click.argument("batch_id", type=int)
def batch_show(batch_id: int) -> None:
    """One batch: its status, who made and approved it, its payments by status."""

    async def _main():
        return await service.get_batch(batch_id), await service.progress(batch_id)

    b, p = run(_main)
    click.echo(
        f"batch {b.id} {b.status}: {b.payment_count} payments, ¥{b.total:,.2f}; maker {b.maker}, "
        f"checker {b.checker or '-'}{', second checker ' + b.second_checker if b.second_checker else ''}"
    )
    click.echo(p.summary() or "no payments")
    if p.held:
        click.echo(f"{p.held} payments held in the exceptions queue (`zhida payments exceptions`)")


async def _run_batch(batch_id: int, wait: bool, actor_name: str | None, show: bool):
    actor = await actor_of(actor_name) if actor_name else cli_operator()  # who ran it, not "system"
    chunks = await service.start_batch(batch_id, actor=actor)
    queue = await jobs.get_queue()
    queued = await enqueue_chunks(queue, chunks)
    if not wait:
        return None, f"batch {batch_id}: {queued} payment jobs queued for {len(chunks)} chunks"
    last, stalled_since = None, time.monotonic()
    while True:
        if jobs.embedded():
            await jobs.drain(max_jobs=8)
        else:
            await asyncio.sleep(0.5)
        p = await service.progress(batch_id)
        if show:
            click.echo(f"\rbatch {batch_id}: {p.summary()}", err=True, nl=False)
        if p.done:
            if show:
                click.echo("", err=True)
            return p, None
        snapshot = (p.counts, p.active)
        if snapshot != last:
            last, stalled_since = snapshot, time.monotonic()
        elif time.monotonic() - stalled_since > 300:
            refuse(
                f"batch {batch_id}: {p.active} payments made no progress for 5 minutes "
                "(is the bank reachable, are workers running?); run `zhida batch run` again to resume"
            )
        if jobs.embedded():
            # Leftovers: claims of a killed run whose lease has not expired yet. Wait a little, plan again.
            await asyncio.sleep(1)
            await enqueue_chunks(queue, await service.start_batch(batch_id, actor=actor))


@batch_group.command("run")
@click.argument("batch_id", type=int)
@click.option("--wait", is_flag=True, help="block until every payment is final")
@click.option("--actor", default=None, help="who starts the run (recorded in the audit trail)")
@click.option("--progress", "show_progress", is_flag=True, help="show progress even on a pipe")
def batch_run(batch_id: int, wait: bool, actor: str | None, show_progress: bool) -> None:
    """Enqueue the approved batch's payments; with --wait, block until every payment is final and print counts and
    totals by status (exit 3 when some were rejected or are held for a person to look at)."""
    p, message = run(_run_batch, batch_id, wait, actor, progress_enabled(show_progress))
    if p is None:
        click.echo(message)
        return

    total_n = sum(p.counts.values())
    for status in sorted(p.counts):
        click.echo(f"{status}\t{p.counts[status]}\t{format_yuan(p.totals_fen[status])}")
    click.echo(f"total\t{total_n}\t{format_yuan(sum(p.totals_fen.values()))}")
    if p.held:
        click.echo(f"{p.held} payments held in the exceptions queue (`zhida payments exceptions`)", err=True)
    if set(p.counts) - {"settled"} or p.held:
        sys.exit(EXIT_PARTIAL)


@batch_group.command("receipts")
@click.argument("batch_id", type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--processes", default=2, show_default=True, type=int)
def batch_receipts(batch_id: int, out: str, processes: int) -> None:
    """Write the PDF receipt (回单) of every settled payment of the batch into OUT."""

    async def _main():
        await service.get_batch(batch_id)
        return await service.receipts_of_batch(batch_id)

    facts = run(_main)
    paths = write_receipts(
        facts, Path(out), renderer=ReceiptRenderer.from_settings(get_settings()), processes=processes
    )
    click.echo(f"{len(paths)} receipts written to {out}")


@click.command("reconcile")
@click.option("--date", "date_", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--actor", default=None, help="who reconciles (recorded in the audit trail)")
def reconcile(date_: dt.datetime, actor: str | None) -> None:
    """Compare the ledger with the bank statement of that date (对账); print and store every difference; exit 3
    when there is one. Nothing is ever corrected automatically."""

    async def _main():
        who = await actor_of(actor) if actor else cli_operator()
        adapter = get_adapter(get_settings())
        try:
            return await service.reconcile(adapter, date_.date(), actor=who)
        finally:
            await adapter.aclose()

    result = run(_main)
    click.echo(
        f"reconciliation {result.date}: {result.bank_lines} bank lines, {result.ledger_lines} ledger lines, "
        f"{result.matched} matched, {len(result.differences)} differences (run {result.run_id})"
    )

    for d in result.differences:
        bank = f"{fen_to_yuan(d.bank_amount_fen)}" if d.bank_amount_fen is not None else "-"
        ours = f"{fen_to_yuan(d.ledger_amount_fen)}" if d.ledger_amount_fen is not None else "-"
        click.echo(
            f"{d.kind}\t{d.request_id}\t{d.transfer_id or '-'}\tpayment {d.payment_id or '-'}\tbank {bank}\t"
            f"ledger {ours}\t{d.detail}"
        )
    if result.differences:
        sys.exit(EXIT_PARTIAL)


@click.group("payments")
def payments_group() -> None:
    """Payments: the exceptions queue (rejected, returned and held payments), re-issue and final rejection."""


@payments_group.command("exceptions")
def payments_exceptions() -> None:
    """Payments waiting for a person."""
    for p in run(service.exceptions_queue):
        click.echo(
            f"{p.id}\tbatch {p.batch_id}\t{p.status}\t{p.reason}\t{p.subject_kind} {p.subject_id}\t"
            f"{p.payee_account_masked}\t{p.amount:.2f}"
        )


@payments_group.command("held")
@click.option("--batch", "batch_id", type=int, default=None, help="only those held out of this batch")
def payments_held(batch_id: int | None) -> None:
    """Entitlements held out on re-verification (资格复核), newest first: when (match, batch, run), the outcome
    (withdrawn, amount_changed), the amounts and the failing conditions."""
    for h in run(service.held_out, batch_id=batch_id):
        new = f" → {h.new_amount:.2f}" if h.new_amount is not None else ""
        click.echo(
            f"{h.id}	{h.stage}	{h.outcome}	entitlement {h.entitlement_id}	payment {h.payment_id or '-'}	"
            f"{h.policy_code}	{h.subject_kind} {h.subject_id}	{h.amount:.2f}{new}	{h.reason}"
        )


@payments_group.command("reissue")
@click.argument("payment_ids", nargs=-1, type=int, required=True)
@click.option("--actor", required=True, help="the finance_maker; a checker then approves the re-issue batch")
def payments_reissue(payment_ids: tuple[int, ...], actor: str) -> None:
    """退汇重发: a new batch paying rejected or returned payments again to the corrected, re-verified account."""

    async def _main():
        return await service.reissue_payments(
            list(payment_ids), actor=await actor_of(actor), second_checker_threshold_fen=_threshold_fen()
        )

    batch_id = run(_main)
    click.echo(batch_id)


@payments_group.command("abandon")
@click.argument("payment_id", type=int)
@click.option("--actor", required=True, help="a finance_checker")
@click.option("--reason", required=True)
def payments_abandon(payment_id: int, actor: str, reason: str) -> None:
    """Final rejection: the payment is not re-issued and its budget reservation is released."""
    run_as(actor, service.abandon_payment, payment_id, reason=reason)
    click.echo(f"payment {payment_id} abandoned; its reservation is released")


@payments_group.command("return")
@click.argument("payment_id", type=int)
@click.option("--actor", required=True)
@click.option("--reason", default="RETURNED")
def payments_return(payment_id: int, actor: str, reason: str) -> None:
    """Record a 退汇 the bank reports: the settled payment goes to the exceptions queue. The bank is asked first; a
    transfer it does not report reversed is refused."""

    async def _main():
        who = await actor_of(actor)
        adapter = get_adapter(get_settings())
        try:
            await service.record_return(
                payment_id,
                actor=who,
                adapter=adapter,
                reason=reason,
                queue=await jobs.get_queue(),
                base_url=get_settings().base_url,
            )
        finally:
            await adapter.aclose()

    run(_main)
    click.echo(f"payment {payment_id} recorded as returned")


@payments_group.command("check")
def payments_check() -> None:
    """Check the ledger: every journal balanced, no budget exceeded, every payment's paid balance consistent."""
    result = run(service.check_balances)
    if result.ok:
        click.echo(f"ledger balanced: {result.journals} journals")
        return
    for problem in result.problems:
        click.echo(problem, err=True)
    sys.exit(EXIT_REFUSED)


def register(main: click.Group) -> None:
    for cmd in (batch_group, reconcile, payments_group):
        main.add_command(cmd)
