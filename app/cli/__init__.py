"""`zhida`, the operator command line (contracts/cli.md): one module per domain registers its commands."""

from __future__ import annotations

import click

import app  # noqa: F401  (sets PICCOLO_CONF)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Zhida 政策直达: policies to money in the right accounts."""


def _register() -> None:
    from app.cli import bank, core, demo, payments, policies, profiles

    for module in (core, policies, profiles, payments, bank, demo):
        module.register(main)


_register()
