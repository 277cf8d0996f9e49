"""Commands of policies/: load packs, publish."""
from __future__ import annotations

import click

from app.cli.common import not_built


@click.group("policies")
def policies_group() -> None:
    """Policies (政策) and their versions."""


@policies_group.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--actor", required=True, help="the policy_officer who authors the drafts")
def policies_load(files: tuple[str, ...], actor: str) -> None:
    """Validate and store policy packs as drafts authored by ACTOR."""
    not_built("policies load")


@policies_group.command("publish")
@click.argument("code")
@click.option("--actor", required=True, help="the policy_reviewer who publishes")
def policies_publish(code: str, actor: str) -> None:
    """Publish the latest draft of CODE (a reviewer other than its author)."""
    not_built("policies publish")


def register(main: click.Group) -> None:
    main.add_command(policies_group)
