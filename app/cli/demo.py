"""`zhida demo`: the main job on the embedded default, end to end, then the web UI."""
from __future__ import annotations

import click

from app.cli.common import run

DEMO_PASSWORD = "Zhida-demo-2025"
DEMO_STAFF = [
    ("officer", "policy_officer", "王政策（政策专员）"),
    ("officer2", "policy_officer", "刘政策（政策专员）"),
    ("reviewer", "policy_reviewer", "李审核（政策审核）"),
    ("maker", "finance_maker", "张财务（制单）"),
    ("checker", "finance_checker", "赵财务（复核）"),
    ("checker2", "finance_checker", "钱财务（复核）"),
    ("auditor", "auditor", "孙审计"),
    ("admin", "admin", "系统管理员"),
]


async def ensure_demo_users() -> list[tuple[str, str]]:
    from app.auth.service import create_user, get_user

    made = []
    for name, role, display in DEMO_STAFF:
        if await get_user(name) is None:
            await create_user(name, role, DEMO_PASSWORD, display_name=display)
        made.append((name, role))
    return made


async def _demo(profiles: int) -> dict:
    from app.db import migrate

    await migrate()
    users = await ensure_demo_users()
    return {"users": users}


@click.command()
@click.option("--profiles", default=10000, show_default=True, type=int, help="synthetic profiles to generate")
@click.option("--no-serve", is_flag=True, help="print the summary and stop instead of serving the web UI")
@click.option("--port", default=8000, show_default=True, type=int)
def demo(profiles: int, no_serve: bool, port: int) -> None:
    """The main job on the embedded default: database, policies, profiles, matches, notices, payments, receipts."""
    summary = run(_demo, profiles)
    click.echo("Zhida 政策直达 demo")
    click.echo("Demo accounts (password for all: %s):" % DEMO_PASSWORD)
    for name, role in summary["users"]:
        click.echo(f"  {name:10} {role}")
    if no_serve:
        return
    click.echo(f"Serving the web UI on http://127.0.0.1:{port}  (Ctrl-C to stop)")
    import uvicorn

    uvicorn.run("app.main:create_app", factory=True, host="127.0.0.1", port=port, log_level="warning")


def register(main: click.Group) -> None:
    main.add_command(demo)
