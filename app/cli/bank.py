"""`zhida bank-sim`: the bundled simulator of the bank gateway contract."""
from __future__ import annotations

import click

from app.cli.common import not_built


@click.command("bank-sim")
@click.option("--port", default=8900, show_default=True, type=int)
@click.option("--fail-rate", default=0.0, type=float, help="share of requests answered 503")
@click.option("--timeout-rate", default=0.0, type=float, help="share of transfers taken but not answered")
@click.option("--seed", default=None, type=int)
def bank_sim(port: int, fail_rate: float, timeout_rate: float, seed: int | None) -> None:
    """The bundled bank gateway simulator."""
    not_built("bank-sim")


def register(main: click.Group) -> None:
    main.add_command(bank_sim)
