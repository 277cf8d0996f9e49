"""`zhida`, the operator command line (contracts/cli.md): one module per domain registers its commands."""

from __future__ import annotations

import click

import app  # noqa: F401  (sets PICCOLO_CONF)
from app.cli import bank, core, demo, payments, policies, profiles
from app.cli.common import Commands, configure_logging


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Zhida 政策直达: policies to money in the right accounts."""
    configure_logging()


for _module in (core, policies, profiles, payments, bank, demo):
    _module.register(main)
