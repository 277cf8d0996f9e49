"""Commands of policies/: load packs, publish, and the rest of the lifecycle (list, export, preview, …)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click

from app import jobs, publication
from app.cli.common import actor_of, refuse, run
from kit.vocab import Role
from policies import service
from policies.errors import PackRefused
from policies.packs import bundled_pack_paths


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@click.group("policies")
def policies_group() -> None:
    """Policies (政策) and their versions."""


@policies_group.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--actor", required=True, help="the policy_officer who authors the drafts")
def policies_load(files: tuple[str, ...], actor: str) -> None:
    """Validate and store policy packs as drafts authored by ACTOR.

    Each file is checked as a whole: if any policy in it is refused, every problem is printed and
    nothing from that file is stored (exit 1).
    """

    async def _load():
        who = await actor_of(actor, (Role.POLICY_OFFICER,), "loading policy packs")
        refused = 0
        for path in files:
            try:
                stored = await service.load_pack(path, who)
            except PackRefused as exc:
                refused += 1
                click.echo(exc.message, err=True)
                continue
            for version, outcome in stored:
                click.echo(f"{version.code} version {version.number} {outcome} ({version.status}) from {path}")
                if version.status == "draft":
                    missing = await service.missing_tests(version.id)
                    if missing:
                        click.echo(
                            "  not submitted for review, its tests do not cover it: "
                            + "; ".join(p.message for p in missing),
                            err=True,
                        )
        return refused

    if run(_load):
        sys.exit(1)


@policies_group.command("publish")
@click.argument("code")
@click.option("--actor", required=True, help="the policy_reviewer who publishes")
@click.option("--as-of", help="evaluation date of the impact preview (default: today, within the effective dates)")
@click.option(
    "--accept-shortfall",
    is_flag=True,
    help="publish although the impact preview commits more than the budget (recorded in the audit trail)",
)
def policies_publish(code: str, actor: str, as_of: str | None, accept_shortfall: bool) -> None:
    """Publish the latest version of CODE, submitted for review (a reviewer other than its author).

    A version in effect today is matched at once (in the embedded mode before the command returns; otherwise by the
    workers): matches, notices and entitlements. One dated from a later day is scheduled and takes effect then.
    """

    async def _publish():
        who = await actor_of(actor, (Role.POLICY_REVIEWER,), "publishing a policy")
        day = _date(as_of)
        version = await publication.publish_latest(code, who, as_of=day, accept_shortfall=accept_shortfall)
        if jobs.embedded():
            await jobs.drain()  # the in-process queue: the matching queued above runs now
        impact = await service.stored_impact(version.id)
        return version, impact

    version, impact = run(_publish)
    if version.status == "scheduled":
        click.echo(
            f"published {version.code} version {version.number}, scheduled: in effect from "
            f"{version.content.effective_from}; the version in effect stays until then"
        )
    else:
        click.echo(f"published {version.code} version {version.number}")
    if impact is not None and impact.withheld:
        click.echo(f"impact on {impact.as_of}: {impact.withheld}")
    elif impact is not None:
        click.echo(
            f"impact on {impact.as_of}: {impact.matched} subjects, {impact.total_amount} yuan "
            f"of a {impact.budget} yuan budget"
        )


@policies_group.command("activate-due")
def policies_activate_due() -> None:
    """Make every scheduled version whose effective_from has come take effect (what the workers do every few
    minutes; idempotent) and match it."""

    async def _go():
        from app.tasks import take_effect

        n = await take_effect({"redis": await jobs.get_queue()})
        if jobs.embedded():
            await jobs.drain()
        return n

    click.echo(f"{run(_go)} scheduled version(s) took effect")


@policies_group.command("submit")
@click.argument("code")
@click.option("--actor", required=True, help="the policy_officer who submits the draft for review")
def policies_submit(code: str, actor: str) -> None:
    """Hand the latest draft of CODE to review (its own tests must pass)."""

    async def _submit():
        who = await actor_of(actor, (Role.POLICY_OFFICER,), "submitting a policy")
        latest = await service.publishable_version(code)
        return await service.submit(latest["id"], who)

    v = run(_submit)
    click.echo(f"{v.code} version {v.number} is in review")


@policies_group.command("list")
@click.option("--search", default="", help="text in the code, title or issuer")
@click.option("--status", default=None)
@click.option("--json", "as_json", is_flag=True)
def policies_list(search: str, status: str | None, as_json: bool) -> None:
    """Every policy with its latest version."""
    rows = run(service.list_policies, search, status)
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return
    for r in rows:
        pub = f"published v{r['published_number']}" if r["published_number"] else "not published"
        click.echo(
            f"{r['code']:<34} v{r['number']:<3} {r['status']:<10} {r['mode']:<5} {r['subject']:<10} "
            f"{pub:<16} {r['title']}"
        )


@policies_group.command("export")
@click.argument("code")
@click.option("--version", "number", type=int, help="version number (default: the latest)")
@click.option("--out", type=click.Path(dir_okay=False), help="write to FILE instead of stdout")
def policies_export(code: str, number: int | None, out: str | None) -> None:
    """Write a stored version of CODE back as a YAML pack (it loads to the same version)."""

    async def _export():
        rows = await service.versions_of(code)
        pick = next((r for r in rows if r["number"] == number), None) if number else rows[0]
        if pick is None:
            refuse(f"policy {code} has no version {number}")
        return await service.export_version(pick["id"])

    text = run(_export)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)


@policies_group.command("preview")
@click.argument("code")
@click.option("--as-of", help="evaluation date (default: today, within the effective dates)")
@click.option("--json", "as_json", is_flag=True)
def policies_preview(code: str, as_of: str | None, as_json: bool) -> None:
    """Impact preview (shadow run) of the latest version of CODE against the published one."""

    async def _preview():
        rows = await service.versions_of(code)
        return await service.impact_preview(rows[0]["id"], _date(as_of))

    p = run(_preview)
    if as_json:
        click.echo(p.model_dump_json(indent=2))
        return
    if p.withheld:
        click.echo(f"{p.code} version {p.number} on {p.as_of}: {p.withheld}")
        return
    click.echo(
        f"{p.code} version {p.number} on {p.as_of}: {p.matched} subjects, {p.total_amount} yuan; "
        f"budget {p.budget}, left {p.budget_left}"
    )
    if p.published_number is not None:
        click.echo(
            f"against published version {p.published_number}: {p.published_matched} subjects, "
            f"{p.published_total_amount} yuan; added {len(p.added)}, removed {len(p.removed)}, "
            f"amount changed {len(p.amount_changed)}, budget delta {p.budget_delta}"
        )
    if p.prior is not None:
        click.echo(
            f"{p.prior.paid_before} subjects already paid under earlier versions; this version would add "
            f"{p.prior.new_subjects} new subjects ({p.prior.new_amount} yuan) and {p.prior.top_up_subjects} "
            f"top-ups ({p.prior.top_up_total} yuan)"
        )


@policies_group.command("test")
@click.argument("code")
def policies_test(code: str) -> None:
    """Run the own tests of the latest version of CODE."""

    async def _test():
        rows = await service.versions_of(code)
        return await service.run_version_tests(rows[0]["id"])

    outcomes = run(_test)
    for o in outcomes:
        click.echo(f"{'ok  ' if o.passed else 'FAIL'} {o.name}{': ' + o.message if o.message else ''}")
    if any(not o.passed for o in outcomes):
        sys.exit(1)


def _lifecycle(name: str, fn_name: str, doc: str, needs_reason: bool) -> None:
    @click.argument("code")
    @click.option("--actor", required=True)
    @click.option("--reason", required=needs_reason, default="")
    def _cmd(code: str, actor: str, reason: str) -> None:
        async def _go():
            who = await actor_of(actor, (Role.POLICY_REVIEWER,), f"{name} a policy")
            return await getattr(service, fn_name)(code, who, reason)

        v = run(_go)
        click.echo(f"{v.code} version {v.number} is {v.status}")

    _cmd.__doc__ = doc
    policies_group.command(name)(_cmd)


_lifecycle("suspend", "suspend", "Suspend the published version of CODE (暂停).", True)
_lifecycle("resume", "resume", "Resume the suspended version of CODE.", False)
_lifecycle("retire", "retire", "Retire the published or suspended version of CODE (废止).", True)


@policies_group.command("load-bundled")
@click.option("--actor", required=True, help="the policy_officer who authors the drafts")
def policies_load_bundled(actor: str) -> None:
    """Load the realistic packs shipped in policies/packs/."""

    async def _load():
        who = await actor_of(actor, (Role.POLICY_OFFICER,), "loading policy packs")
        out = []
        for p in bundled_pack_paths():
            out += await service.load_pack(p, who)
        return out

    for v, outcome in run(_load):
        click.echo(f"{v.code} version {v.number} {outcome}")


def register(main: click.Group) -> None:
    main.add_command(policies_group)
