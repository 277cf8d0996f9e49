"""Commands of eligibility/: profile import, match, explain."""
from __future__ import annotations

import click

from app.cli.common import not_built


@click.group("profiles")
def profiles_group() -> None:
    """Enterprise and talent profiles (一企一档 / 一人一档)."""


@profiles_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", required=True, type=click.Choice(["enterprise", "talent"]))
@click.option("--rejects", type=click.Path(dir_okay=False), help="write rejected rows (line, field, reason) here")
@click.option("--progress", is_flag=True, help="show progress even when not on a terminal")
def profiles_import(file: str, kind: str, rejects: str | None, progress: bool) -> None:
    """Upsert profiles from a CSV or NDJSON file."""
    not_built("profiles import")


@click.command("match")
@click.argument("code")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), help="evaluation date (default today)")
@click.option("--out", type=click.Path(dir_okay=False), help="write the CSV here instead of stdout")
def match(code: str, as_of, out: str | None) -> None:
    """Match the published version of CODE against all profiles of its kind."""
    not_built("match")


@click.command("explain")
@click.argument("code")
@click.argument("subject_id")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def explain(code: str, subject_id: str, as_of, lang: str) -> None:
    """Each condition of each clause for one subject: value, met or not, and the amount."""
    not_built("explain")


def register(main: click.Group) -> None:
    for cmd in (profiles_group, match, explain):
        main.add_command(cmd)
