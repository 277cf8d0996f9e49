"""Commands of payments/: batches, receipts, reconciliation, the bank simulator."""
from __future__ import annotations

import click

from app.cli.common import not_built


@click.group("batch")
def batch_group() -> None:
    """Disbursement batches (代发批次)."""


@batch_group.command("create")
@click.argument("code")
@click.option("--actor", required=True)
def batch_create(code: str, actor: str) -> None:
    """A batch of the policy's payable entitlements not yet in a batch. Prints the batch id."""
    not_built("batch create")


@batch_group.command("approve")
@click.argument("batch_id")
@click.option("--actor", required=True)
def batch_approve(batch_id: str, actor: str) -> None:
    """The checker's approval (not the maker)."""
    not_built("batch approve")


@batch_group.command("run")
@click.argument("batch_id")
@click.option("--wait", is_flag=True, help="block until every payment is final")
def batch_run(batch_id: str, wait: bool) -> None:
    """Enqueue the approved batch's payments."""
    not_built("batch run")


@batch_group.command("receipts")
@click.argument("batch_id")
@click.option("--out", required=True, type=click.Path(file_okay=False))
def batch_receipts(batch_id: str, out: str) -> None:
    """Write the PDF receipt (回单) of every settled payment of the batch into OUT."""
    not_built("batch receipts")


@click.command("reconcile")
@click.option("--date", "date_", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
def reconcile(date_) -> None:
    """Compare the ledger with the bank statement of that date (对账)."""
    not_built("reconcile")


def register(main: click.Group) -> None:
    for cmd in (batch_group, reconcile):
        main.add_command(cmd)
