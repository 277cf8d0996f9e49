"""`zhida bank-sim`: the bundled simulator of the bank gateway contract, served by uvicorn on loopback."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
import uvicorn

from app.cli.common import refuse
from app.config import get_settings
from payments.adapters import SIMULATOR_FILE
from payments.adapters.simulator import Simulator, SimulatorConfig, parse_account_rules

RATE = click.FloatRange(0.0, 1.0)


@click.command("bank-sim")
@click.option("--port", default=8900, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True, help="keep it on loopback unless you mean it")
@click.option("--fail-rate", default=0.0, type=RATE, help="share of transfers answered 503 (nothing taken)")
@click.option("--timeout-rate", default=0.0, type=RATE, help="share of transfers taken but not answered")
@click.option("--drop-rate", default=0.0, type=RATE, help="share of transfers taken, then the connection dropped")
@click.option("--slow-rate", default=0.0, type=RATE, help="share of transfers taken and answered after --slow-seconds")
@click.option("--slow-seconds", default=1.0, show_default=True, type=float)
@click.option(
    "--hang-seconds",
    default=120.0,
    show_default=True,
    type=float,
    help="how long a withheld answer waits for the client to give up",
)
@click.option("--rate-limit-rate", default=0.0, type=RATE, help="share of transfers answered 429 (nothing taken)")
@click.option("--retry-after", default=1, show_default=True, type=int, help="Retry-After seconds of a 429")
@click.option("--fault-queries", is_flag=True, help="also answer 503/429 to GETs at the same rates")
@click.option(
    "--settle-delay",
    default=0.0,
    show_default=True,
    type=float,
    help="seconds from accepted to settled (0: settled at once)",
)
@click.option("--answer-accepted", is_flag=True, help="answer 'accepted' even with --settle-delay 0")
@click.option(
    "--reject-accounts",
    default=None,
    help="payee account suffix rules, e.g. '0004=ACCOUNT_NOT_FOUND,0005=ACCOUNT_CLOSED'; '' for none "
    "[default: 0004=ACCOUNT_NOT_FOUND,0005=ACCOUNT_CLOSED,0006=NAME_MISMATCH]",
)
@click.option("--payer-balance", default=None, help="yuan available to each payer account (default: unlimited)")
@click.option("--seed", default=None, type=int, help="make the faults of each (request_id, attempt) reproducible")
@click.option(
    "--db",
    "db_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="the simulator's record [default: $ZHIDA_DATA_DIR/bank-sim.db]",
)
@click.option("--secret", default=None, help="shared secret [default: $ZHIDA_BANK_SECRET]")
def bank_sim(
    port: int,
    host: str,
    fail_rate: float,
    timeout_rate: float,
    drop_rate: float,
    slow_rate: float,
    slow_seconds: float,
    hang_seconds: float,
    rate_limit_rate: float,
    retry_after: int,
    fault_queries: bool,
    settle_delay: float,
    answer_accepted: bool,
    reject_accounts: str | None,
    payer_balance: str | None,
    seed: int | None,
    db_path: Path | None,
    secret: str | None,
) -> None:
    """The bundled bank gateway simulator (contracts/bank-gateway.md), with faults to inject."""
    settings = get_settings()
    kwargs = {}
    if reject_accounts is not None:
        kwargs["account_rules"] = parse_account_rules(reject_accounts)
    if payer_balance is not None:
        try:
            kwargs["payer_balance"] = Decimal(payer_balance)
        except InvalidOperation:
            refuse(f"--payer-balance {payer_balance!r} is not an amount")
    try:
        config = SimulatorConfig(
            secret=secret or settings.bank_secret,
            fail_rate=fail_rate,
            rate_limit_rate=rate_limit_rate,
            timeout_rate=timeout_rate,
            drop_rate=drop_rate,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            hang_seconds=hang_seconds,
            retry_after=retry_after,
            fault_queries=fault_queries,
            settle_delay=settle_delay,
            answer_accepted=answer_accepted,
            seed=seed,
            **kwargs,
        )
    except ValueError as exc:
        refuse(str(exc))
    path = db_path or Path(settings.data_dir) / SIMULATOR_FILE
    simulator = Simulator(path, config)
    click.echo(
        f"bank simulator on http://{host}:{port} (record: {path}; faults: 503 {fail_rate:g}, "
        f"429 {rate_limit_rate:g}, timeout {timeout_rate:g}, drop {drop_rate:g}, slow {slow_rate:g}; "
        f"rules: {config.account_rules or 'none'})",
        err=True,
    )
    # The drop fault ends responses half-way on purpose; uvicorn would log each one as an application error.
    logging.getLogger("uvicorn.error").addFilter(
        lambda record: not str(record.msg).startswith("ASGI callable returned without completing response")
    )
    try:
        # No proxy-header rewriting (nothing sits in front of it on loopback): less work per request.
        uvicorn.run(
            simulator,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
    finally:
        simulator.close()


def register(main: click.Group) -> None:
    main.add_command(bank_sim)
