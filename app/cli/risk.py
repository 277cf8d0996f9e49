"""Commands of 风险拦截 (risk controls before money leaves): scan, list, clear, confirm."""

from __future__ import annotations

import json

import click

from app.cli.common import actor_of, cli_operator, run, run_as
from app.config import get_settings
from kit.money import format_yuan
from payments import service


@click.group("risk")
def risk_group() -> None:
    """Risk flags (风险拦截): a flagged entitlement is held out of batches until an auditor clears it."""


@risk_group.command("scan")
@click.option("--actor", default=None, help="who runs the scan (default: the operating-system account)")
def risk_scan(actor: str | None) -> None:
    """Every risk rule over every entitlement about to be paid; prints the hits per rule and the new flags."""

    async def _main():
        who = await actor_of(actor) if actor else cli_operator()
        return await service.risk_scan(actor=who, settings=get_settings().risk_settings())

    result = run(_main)
    for rule, n in result.found.items():
        click.echo(f"{rule}\t{n}")
    click.echo(f"new flags {result.created}, refreshed {result.refreshed}, {result.seconds:.2f} s")


@risk_group.command("list")
@click.option("--state", default="open", help="open | cleared | confirmed | all")
@click.option("--severity", default=None)
@click.option("--rule", default=None)
@click.option("--json", "as_json", is_flag=True)
def risk_list(state: str, severity: str | None, rule: str | None, as_json: bool) -> None:
    """The risk flags, newest first."""
    rows = run(service.list_flags, state=None if state == "all" else state, severity=severity, rule=rule)
    if as_json:
        click.echo(json.dumps([{k: str(v) for k, v in r.items()} for r in rows], ensure_ascii=False))
        return
    for r in rows:
        click.echo(
            f"{r['id']}\t{r['state']}\t{r['severity']}\t{r['rule']}\tentitlement {r['entitlement_id']}\t"
            f"{r['policy_code']}\t¥{format_yuan(int(r['amount_fen']))}"
        )


@risk_group.command("clear")
@click.argument("flag_id", type=int)
@click.option("--actor", required=True, help="an auditor")
@click.option("--reason", required=True)
def risk_clear(flag_id: int, actor: str, reason: str) -> None:
    """Clear a flag (the entitlement may be paid); a high-severity flag needs a second, different auditor."""
    state = run_as(actor, service.clear_flag, flag_id, reason=reason)
    click.echo(
        f"risk flag {flag_id} cleared" if state == "cleared" else f"risk flag {flag_id}: a second auditor must clear it"
    )


@risk_group.command("confirm")
@click.argument("flag_id", type=int)
@click.option("--actor", required=True, help="an auditor")
@click.option("--reason", required=True)
def risk_confirm(flag_id: int, actor: str, reason: str) -> None:
    """Confirm a flag: the risk is real, the entitlement stays held."""
    run_as(actor, service.confirm_flag, flag_id, reason=reason)
    click.echo(f"risk flag {flag_id} confirmed; its entitlement stays held")


def register(main: click.Group) -> None:
    main.add_command(risk_group)
