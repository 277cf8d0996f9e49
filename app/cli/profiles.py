"""Commands of eligibility/: profile import, match, explain, synthetic profiles, feed keys."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from app import jobs
from app.cli.common import EXIT_PARTIAL, cli_operator, progress_enabled, run
from eligibility.explain import explain_profile, render_text
from eligibility.feeds import create_feed_key, set_feed_fields
from eligibility.importer import import_file
from eligibility.incremental import profile_ids_of
from eligibility.match_sql import compiles, stream_matches
from eligibility.matcher import match_ruleset
from eligibility.rules.sql import NotCompilable
from eligibility.service import active_rulesets, replay_decision
from eligibility.service import explain as explain_service
from eligibility.synthetic import generate, write_csv, write_ndjson
from kit.masking import mask_id_number
from kit.money import fen_to_yuan
from kit.time import china_today
from kit.vocab import SubjectKind
from policies.service import published_ruleset, ruleset_of

KINDS = [k.value for k in SubjectKind]


@click.group("profiles")
def profiles_group() -> None:
    """Enterprise and talent profiles (一企一档 / 一人一档)."""


@profiles_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--rejects", type=click.Path(dir_okay=False), help="write rejected rows (line, field, reason) here")
@click.option("--progress", is_flag=True, help="show progress even when not on a terminal")
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson"]), help="default: from the extension or content")
@click.option("--no-rematch", is_flag=True, help="do not queue incremental matching of changed profiles")
@click.option(
    "--feed",
    help="the data-exchange feed the file comes from (see feed-key): a feed that owns fields changes only those, "
    "a column the file lacks keeps the stored value and an empty cell clears it; default: the full-record feed",
)
def profiles_import(
    file: str, kind: str, rejects: str | None, progress: bool, fmt: str | None, no_rematch: bool, feed: str | None
) -> None:
    """Upsert profiles from a CSV or NDJSON file."""
    rej_file = open(rejects, "w", newline="", encoding="utf-8") if rejects else None
    writer = csv.writer(rej_file) if rej_file else None
    if writer:
        writer.writerow(["line", "field", "reason"])
    shown = 0

    def reject(line: int, field: str, reason: str) -> None:
        nonlocal shown
        if writer:
            writer.writerow([line, field, reason])
        elif shown < 20:
            click.echo(f"line {line}: {field or 'row'}: {reason}", err=True)
            shown += 1

    async def _run():
        on_changed = None if no_rematch else _queue_rematch(kind)
        if not progress_enabled(progress):
            return await import_file(
                file, kind, actor=cli_operator(), reject=reject, fmt=fmt, on_changed=on_changed, feed=feed
            )

        size = os.path.getsize(file)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=_stderr_console(),
            transient=False,
        ) as bar:
            task = bar.add_task(f"import {os.path.basename(file)}", total=size)
            return await import_file(
                file,
                kind,
                actor=cli_operator(),
                reject=reject,
                fmt=fmt,
                on_changed=on_changed,
                progress=lambda done: bar.update(task, completed=done),
                feed=feed,
            )

    async def _run_and_settle():
        report = await _run()
        if feed and (report.inserted or report.updated):  # a correction asked of this feed may have arrived
            from app import flows

            accepted = await flows.settle_corrections(feed, actor=cli_operator())
            if accepted:
                click.echo(f"correction requests accepted (delivered by feed {feed}): {accepted}")
            if jobs.embedded():
                await jobs.drain()
        return report

    try:
        report = run(_run_and_settle)
    finally:
        if rej_file:
            rej_file.close()
    click.echo(
        f"inserted {report.inserted}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {report.rejected}"
    )
    if report.rejected:
        if rejects:
            click.echo(f"rejected rows (line, field, reason) written to {rejects}", err=True)
        sys.exit(EXIT_PARTIAL)


def _stderr_console():
    return Console(stderr=True)


def _queue_rematch(kind: str):
    """After an import commits: queue incremental matching for the changed profiles (when rule sets are active)."""

    async def on_changed(subject_ids: list[str]) -> None:
        if not await active_rulesets(kind):
            return

        today = china_today().isoformat()
        # Row ids, not subject ids (a talent's is its ID number): job arguments are logged and kept in Redis.
        profile_ids = await profile_ids_of(kind, subject_ids)
        for i in range(0, len(profile_ids), 1000):
            # No job id: re-importing a changed file must re-match again; storing matches is idempotent.
            await jobs.enqueue("eligibility.rematch_subjects", kind, profile_ids[i : i + 1000], today)
        if jobs.embedded():
            await jobs.drain()

    return on_changed


@profiles_group.command("generate")
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("-n", "count", type=int, default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=".csv or .ndjson")
def profiles_generate(kind: str, count: int, seed: int, out: str) -> None:
    """Write N seeded synthetic profiles (valid, Nanchang region) to a CSV or NDJSON file."""
    writer = write_ndjson if out.endswith((".ndjson", ".jsonl")) else write_csv
    n = writer(kind, generate(kind, count, seed), out)
    click.echo(f"wrote {n} {kind} profiles to {out}")


def _field_list(text: str | None) -> list[str] | None:
    return None if text is None else [f for f in text.split(",") if f.strip()]


@profiles_group.command("feed-key")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--owns", help="comma-separated fields the feed owns (e.g. revenue,tax_paid,credit_rating)")
@click.option("--full-record", is_flag=True, help="the feed sends whole profiles (the default for a new feed)")
def profiles_feed_key(name: str, kind: str, owns: str | None, full_record: bool) -> None:
    """Create (or rotate) the API key of a data-exchange feed; prints the key once. A rotated key keeps the fields
    the feed owns unless --owns or --full-record says otherwise."""
    if owns is not None and full_record:
        raise click.UsageError("--owns and --full-record exclude each other")
    key = run(create_feed_key, name, kind, actor=cli_operator(), owns=_field_list(owns), full_record=full_record)
    click.echo(key)


@profiles_group.command("feed-fields")
@click.argument("name")
@click.option("--owns", help="comma-separated fields the feed owns")
@click.option("--full-record", is_flag=True, help="the feed sends whole profiles")
def profiles_feed_fields(name: str, owns: str | None, full_record: bool) -> None:
    """Declare the fields feed NAME owns (its key unchanged)."""
    if (owns is None) == (not full_record):
        raise click.UsageError("give either --owns FIELDS or --full-record")
    fields = run(set_feed_fields, name, _field_list(owns), actor=cli_operator())
    click.echo(f"feed {name} owns {', '.join(fields)}" if fields else f"feed {name} sends full records")


@profiles_group.group("corrections")
def corrections_group() -> None:
    """Correction requests to the feeds that own fields (objections upheld with a data correction)."""


@corrections_group.command("list")
@click.option("--status", type=click.Choice(["pending", "accepted", "rejected"]), help="default: every status")
@click.option("--feed", help="only the requests addressed to this feed")
@click.option("--out", type=click.Path(dir_okay=False), help="write the CSV here (for the data exchange)")
def corrections_list(status: str | None, feed: str | None, out: str | None) -> None:
    """The requests as CSV (id, feed, subject, field, old and proposed value, objection, officer, status, reason)."""
    from eligibility import corrections

    rows = run(corrections.requests, status, feed=feed)
    text = corrections.csv_text(rows)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"{len(rows)} correction requests written to {out}")
    else:
        click.echo(text, nl=False)


@corrections_group.command("refuse")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="the feed's reason, shown to the subject")
def corrections_refuse(request_id: int, reason: str) -> None:
    """Record that the feed refused correction request REQUEST_ID: the objection is answered with its reason."""
    from app import flows

    r = run(flows.refuse_correction, request_id, reason, actor=cli_operator())
    click.echo(f"correction request {r['id']} rejected; objection {r['objection_id']} answered with the feed's reason")


def _day(as_of: dt.datetime | None) -> dt.date:
    return as_of.date() if as_of else china_today()


@click.command("match")
@click.argument("code")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), help="evaluation date (default today)")
@click.option("--out", type=click.Path(dir_okay=False), help="write the CSV here instead of stdout")
@click.option("--preview", is_flag=True, help="do not store the matches")
@click.option("--python", "force_python", is_flag=True, help="evaluate with rule-engine per profile (no SQL push-down)")
def match(code: str, as_of: dt.datetime | None, out: str | None, preview: bool, force_python: bool) -> None:
    """Match the published version of CODE against all profiles of its kind."""
    day = _day(as_of)
    target = Path(out) if out else None
    # The CSV is written to a file beside the target (or a temporary one for stdout) as the database hands the rows
    # over, so a broad policy never sits in memory whole; stdout then gets the file's copy.
    spool = tempfile.NamedTemporaryFile(
        "w+", newline="", encoding="utf-8", dir=target.parent if target else None, suffix=".csv", delete=False
    )

    async def _run():
        ruleset = await published_ruleset(code)
        w = csv.writer(spool, lineterminator="\n")
        w.writerow(["subject_id", "clauses", "amount"])
        if not force_python and compiles(ruleset, day):
            run_ = await match_ruleset(ruleset, day, store=not preview, actor=cli_operator(), collect=False)
            try:
                async for rows in stream_matches(ruleset, day):
                    w.writerows((sid, clauses, f"{fen_to_yuan(fen):.2f}") for sid, clauses, fen in rows)
                return run_
            except NotCompilable:  # an amount beyond SQL's integers: the rows come from the matcher's Python path
                spool.seek(0)
                spool.truncate()
                w.writerow(["subject_id", "clauses", "amount"])
                full = await match_ruleset(ruleset, day, store=False)
                w.writerows((r.subject_id, ";".join(r.clauses), f"{r.amount:.2f}") for r in full.results)
                return run_
        run_ = await match_ruleset(ruleset, day, store=not preview, actor=cli_operator(), force_python=force_python)
        w.writerows((r.subject_id, ";".join(r.clauses), f"{r.amount:.2f}") for r in run_.results)
        return run_

    try:
        result = run(_run)
        spool.close()
        if target:
            os.replace(spool.name, target)
        else:
            with open(spool.name, encoding="utf-8", newline="") as f:
                shutil.copyfileobj(f, sys.stdout)
    finally:
        spool.close()
        if os.path.exists(spool.name):
            os.unlink(spool.name)
    how = "SQL push-down" if result.path == "sql" else f"rule-engine per profile ({result.fallback_reason})"
    click.echo(
        f"{result.code}: {result.matched} of {result.profiles} matched, total {result.total_amount:.2f} yuan, "
        f"{result.new} new stored; {how}",
        err=True,
    )


@click.command("explain")
@click.argument("code", required=False)
@click.argument("subject_id", required=False)
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the explanation as JSON")
@click.option(
    "--decision",
    type=int,
    help="replay stored match (decision) ID on the profile and rule version it used; exit 1 unless its digest and "
    "amount are reproduced",
)
def explain(
    code: str | None, subject_id: str | None, as_of: dt.datetime | None, lang: str, as_json: bool, decision: int | None
) -> None:
    """Each condition of each clause for one subject: value, met or not, and the amount. With --decision ID: a past
    decision replayed on the data and rule version it used."""
    if decision is not None:
        if code or subject_id or as_of:
            raise click.UsageError("--decision replays a stored decision: give no CODE, SUBJECT_ID or --as-of")
        _explain_decision(decision, lang, as_json)
        return
    if not code or not subject_id:
        raise click.UsageError("give CODE and SUBJECT_ID (or --decision ID)")
    day = _day(as_of)

    async def _run():
        return await explain_service(await published_ruleset(code), subject_id, day, lang)

    ex = run(_run)
    click.echo(ex.model_dump_json(indent=2) if as_json else render_text(ex, lang))


def _shown_id(kind: str, subject_id: str) -> str:
    return mask_id_number(subject_id) or subject_id if kind == SubjectKind.TALENT else subject_id


def _explain_decision(decision: int, lang: str, as_json: bool) -> None:
    async def _run():
        replay = await replay_decision(decision, ruleset_of)
        ex = None
        if replay.profile_version is not None and replay.version_id is not None:
            ruleset = await ruleset_of(replay.version_id)
            ex = explain_profile(ruleset, replay.subject_id, replay.profile_version.profile, replay.as_of, lang)
        return replay, ex

    replay, ex = run(_run)
    if as_json:
        click.echo(replay.model_dump_json(indent=2, exclude={"profile_version": {"profile", "values"}}))
    else:
        v = replay.profile_version
        when = (
            "the current version"
            if v is None or v.current
            else f"kept version {v.id}, valid {v.valid_from:%Y-%m-%d %H:%M:%S} to {v.valid_to:%Y-%m-%d %H:%M:%S}"
        )
        lines = [
            f"decision {replay.match_id}: {replay.code} ({replay.ruleset_key}), {replay.subject_kind} "
            f"{_shown_id(replay.subject_kind, replay.subject_id)}, as of {replay.as_of.isoformat()}",
            f"profile version: {replay.stored_profile_digest}"
            + ("" if v is None else f" ({when}, written by {v.feed or 'a full-record file'})"),
            f"rule version: {replay.stored_rule_digest}",
            f"clauses: stored {';'.join(replay.stored_clauses) or '-'}, replayed {';'.join(replay.clauses) or '-'}",
            f"amount: stored {fen_to_yuan(replay.stored_amount_fen):.2f}, replayed "
            + ("-" if replay.amount_fen is None else f"{fen_to_yuan(replay.amount_fen):.2f}"),
            f"digest: stored {replay.stored_match_digest}, replayed {replay.match_digest or '-'}",
        ]
        click.echo("\n".join(lines))
        if ex is not None:
            click.echo(render_text(ex, lang))
    if replay.agrees:
        click.echo("replay agrees: digest and amount reproduced (复现一致)", err=True)
        return
    for p in replay.problems:
        click.echo(f"replay does not agree: {p}", err=True)
    sys.exit(1)


def register(main: click.Group) -> None:
    for cmd in (profiles_group, match, explain):
        main.add_command(cmd)
