"""`zhida`, the operator command line (contracts/cli.md): one module per domain registers its commands."""

from __future__ import annotations

import click

import app  # noqa: F401  (sets PICCOLO_CONF)
from app.cli import backup, bank, core, demo, payments, policies, profiles, risk
from app.cli.common import Commands, configure_logging
from app.config import get_settings
from kit import correlation

# Commands that run without the deployment's secrets: migrating the schema, backing up and restoring write no
# session, seal or signature (and a restore must not generate an audit key before the operator puts theirs back).
NEEDS_NO_SECRETS = {"db", "backup", "restore"}


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Zhida 政策直达: policies to money in the right accounts."""
    configure_logging()
    # The command's run is one request id (cli-…): the jobs it queues carry it into their lines (app/logs.py).
    ctx.with_resource(correlation.bound(request_id="cli-" + correlation.new_request_id()))
    if ctx.invoked_subcommand not in NEEDS_NO_SECRETS:
        # A shared deployment (PostgreSQL, Redis, a bank URL) without its own secrets stops here, in one line
        # naming the variable; the embedded mode generates what it lacks into the data dir.
        get_settings().check_secrets()


for _module in (core, policies, profiles, payments, bank, demo, backup, risk):
    _module.register(main)
