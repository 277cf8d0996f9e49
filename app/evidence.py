"""证据包 (evidence pack): what an auditor hands on about a risk flag or a policy, as one ZIP built by a job.

The ZIP holds ``manifest.json`` (what the pack is, when — Beijing time — and for whom it was built, each file with
its SHA-256, size, row count and columns, the audit chain's verification at build time) and four CSV files:
``matches.csv`` (each match with the rule version and the profile digest it used), ``payments.csv``,
``receipts.csv`` (the receipts' verification codes) and ``audit.csv`` (the entries concerning it). A flag's pack
covers the flagged subject across every policy (as the flag page's history does, without its 200-row cap); a
policy's covers every version of its code. Rows are read straight from each domain's table (app/ is the top layer,
as app/oversight.py; nothing here writes but the pack's own audit entries), a thousand at a time, and written as CSV
by app/exports (UTF-8 with a BOM, Chinese headers, formula-safe, personal numbers masked as auditors see them; the
trail masked as on the audit page, app/audit_view).

A pack is named by what it covers and a fingerprint of the rows it covers (their counts, last ids and last
changes): the same pack asked for twice is one job and one file; once a covered row changes, the fingerprint moves
and the next preparation builds a new pack. The build reads no row past the last ids of the fingerprint it was named
by, so the counts in its manifest are the fingerprint's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arq.worker import func

from app import audit
from app.audit_view import AUDIT_COLUMNS, _mask_value, masked_entry
from app.config import get_settings
from app.exports import Column, csv_body, subject_columns
from kit.db import raw
from kit.masking import mask_account, mask_id_number, scrub_text
from kit.money import fen_to_yuan
from kit.time import china_now, in_china
from payments import service as payments
from policies import service as policies

FLAG, POLICY = "flag", "policy"
KINDS = (FLAG, POLICY)
CHUNK = 1000
BUILD_TIMEOUT_SECONDS = 1800  # a province-scale policy: hundreds of thousands of rows, and the chain's full walk
FORMAT = 1
_TIMES = ("created_at", "settled_at", "submitted_at", "at", "withdrawn_at")


def _yuan(row: dict[str, Any]) -> Any:
    return fen_to_yuan(int(row["amount_fen"])) if row.get("amount_fen") is not None else ""


MATCH_COLUMNS = [
    Column("id", "匹配编号", "Match id"),
    *subject_columns(),
    Column("code", "政策", "Policy"),
    Column("version_id", "规则版本编号", "Rule version id"),
    Column("version_number", "规则版本号", "Rule version number"),
    Column("rule_digest", "规则摘要", "Rule digest"),
    Column("profile_digest", "画像摘要（SHA-256）", "Profile digest (SHA-256)"),
    Column("match_digest", "匹配摘要", "Match digest"),
    Column("clauses", "条款", "Clauses"),
    Column("amount", "金额（元）", "Amount (yuan)", value=_yuan),
    Column("as_of", "匹配日期", "As of"),
    Column("state", "状态", "State"),
    Column(
        "withdrawn_reason", "撤回原因", "Withdrawn because", value=lambda r: scrub_text(r["withdrawn_reason"] or "")
    ),
    Column("created_at", "匹配时间（北京时间）", "Matched (Beijing time)"),
]
PAYMENT_COLUMNS = [
    Column("id", "支付编号", "Payment id"),
    Column("batch_id", "批次", "Batch"),
    Column("entitlement_id", "享受记录", "Entitlement"),
    Column("attempt", "第几次支付", "Attempt"),
    Column("policy_code", "政策", "Policy"),
    Column("version_id", "规则版本编号", "Rule version id"),
    *subject_columns(),
    Column("payee_name", "收款人", "Payee", datum="subject_name"),
    Column("payee_account", "收款账户", "Account", datum="account"),
    Column("amount", "金额（元）", "Amount (yuan)", value=_yuan),
    Column("status", "状态", "Status"),
    Column("exception", "异常队列", "Exception queue"),
    Column("reason", "原因", "Reason"),
    Column("bank_transfer_id", "银行流水号", "Bank serial"),
    Column("settled_on", "入账日期", "Settled on"),
    Column("submitted_at", "提交时间（北京时间）", "Submitted (Beijing time)"),
    Column("settled_at", "到账时间（北京时间）", "Settled (Beijing time)"),
    Column("created_at", "创建时间（北京时间）", "Created (Beijing time)"),
]
RECEIPT_COLUMNS = [
    Column("id", "回单编号", "Receipt id"),
    Column("code", "回单验证码", "Verification code"),
    Column(
        "verify_url",
        "验真地址",
        "Verify at",
        value=lambda r: f"{get_settings().base_url.rstrip('/')}/verify/{r['code']}",
    ),
    Column("payment_id", "支付编号", "Payment id"),
    Column("batch_id", "批次", "Batch"),
    *subject_columns(),
    Column("amount", "金额（元）", "Amount (yuan)", value=_yuan),
    Column("payment_status", "支付状态", "Payment status"),
    Column("content_digest", "回单内容摘要", "Content digest"),
    Column("created_at", "出具时间（北京时间）", "Issued (Beijing time)"),
]


@dataclass(frozen=True)
class Section:
    """One CSV file of the pack: its rows (FROM … WHERE, keyset by ``pk``) and the aggregates that fingerprint them."""

    name: str
    columns: list[Column]
    select: str
    source: str
    pk: str
    where: str
    args: tuple[Any, ...]
    extra: str = ""  # more aggregates of the fingerprint (what changes a row without adding one)
    masked: bool = False  # audit entries: masked as the audit page masks them

    def rows_sql(self) -> str:
        return (
            f"SELECT {self.select} FROM {self.source} WHERE ({self.where}) AND {self.pk} > {{}} AND {self.pk} <= {{}} "
            f"ORDER BY {self.pk} LIMIT {CHUNK}"
        )

    def fingerprint_sql(self) -> str:
        return f"SELECT COUNT(*) AS n, MAX({self.pk}) AS last{self.extra} FROM {self.source} WHERE {self.where}"


@dataclass(frozen=True)
class Scope:
    """What one pack covers: a flag (its subject across every policy) or a policy (every version of its code)."""

    kind: str
    ref: str
    about: dict[str, Any]
    sections: list[Section] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref}"


def _in(entity: str, *selects: str) -> str:
    """Audit entries of ``entity`` whose entity id is one of these sub-selects' values."""
    return f"(a.entity = '{entity}' AND (" + " OR ".join(f"a.entity_id IN ({s})" for s in selects) + "))"


def _audit_section(where: str, args: tuple[Any, ...]) -> Section:
    return Section(
        "audit.csv", AUDIT_COLUMNS, "a.seq AS pk, a.*", "app_audit_entry a", "a.seq", where, args, masked=True
    )


def _sections(match: str, payment: str, receipt_source: str, receipt: str, args: tuple[Any, ...]) -> list[Section]:
    return [
        Section(
            "matches.csv",
            MATCH_COLUMNS,
            "m.id AS pk, m.id, m.subject_kind, m.subject_id, m.code, m.version_id, v.number AS version_number, "
            "m.rule_digest, m.profile_digest, m.match_digest, m.clauses, m.amount_fen, m.as_of, m.state, "
            "m.withdrawn_reason, m.created_at",
            "eligibility_match m LEFT JOIN policies_version v ON v.id = m.version_id",
            "m.id",
            match,
            args,
            ", SUM(CASE WHEN m.state = 'current' THEN 1 ELSE 0 END) AS current, MAX(m.withdrawn_at) AS withdrawn",
        ),
        Section(
            "payments.csv",
            PAYMENT_COLUMNS,
            "p.id AS pk, p.*",
            "pay_payment p",
            "p.id",
            payment,
            args,
            ", MAX(p.updated_at) AS changed, SUM(p.amount_fen) AS fen",
        ),
        Section(
            "receipts.csv",
            RECEIPT_COLUMNS,
            "r.id AS pk, r.id, r.code, r.payment_id, r.batch_id, r.subject_kind, r.subject_id, p.amount_fen, "
            "p.status AS payment_status, r.content_digest, r.created_at",
            receipt_source,
            "r.id",
            receipt,
            args,
        ),
    ]


def _flag_scope(flag: dict[str, Any]) -> Scope:
    kind, sid = flag["subject_kind"], flag["subject_id"]
    subject = "subject_kind = {} AND subject_id = {}"
    args = (kind, sid)
    owned = f"WHERE {subject}"
    audit_where = " OR ".join(
        [
            "a.entity_id IN ({}, {})",  # the subject itself: its profile, account, contacts, hotline consent…
            _in(
                "entitlement",
                f"SELECT key FROM pay_entitlement {owned}",
                f"SELECT CAST(id AS TEXT) FROM pay_entitlement {owned}",
            ),
            _in("payment", f"SELECT CAST(id AS TEXT) FROM pay_payment {owned}"),
            _in("risk_flag", f"SELECT CAST(id AS TEXT) FROM pay_risk_flag {owned}"),
            _in("match", f"SELECT CAST(id AS TEXT) FROM eligibility_match {owned}"),
            _in("application", f"SELECT CAST(id AS TEXT) FROM policies_application {owned}"),
        ]
    )
    audit_args = (sid, f"{kind}:{sid}", *args * 6)
    sections = _sections(
        "m.subject_kind = {} AND m.subject_id = {}",
        "p.subject_kind = {} AND p.subject_id = {}",
        "pay_receipt r LEFT JOIN pay_payment p ON p.id = r.payment_id",
        "r.subject_kind = {} AND r.subject_id = {}",
        args,
    )
    shown = mask_id_number(sid) if kind == "talent" else sid
    figures = dict((flag.get("evidence") or {}).get("figures") or {})
    if "account" in figures:  # as the flag page shows them (app/controllers/oversight.py)
        figures["account"] = mask_account(str(figures["account"]))
    figures = _mask_value("", figures)
    about = {
        "kind": FLAG,
        "flag_id": int(flag["id"]),
        "rule": flag["rule"],
        "severity": flag["severity"],
        "state": flag["state"],
        "entitlement_id": int(flag["entitlement_id"]),
        "policy_code": flag["policy_code"],
        "subject_kind": kind,
        "subject": shown,
        "amount_yuan": str(fen_to_yuan(int(flag["amount_fen"]))),
        "evidence_figures": figures,
        "first_cleared_by": flag.get("first_cleared_by"),
        "decided_by": flag.get("decided_by"),
        "reason": scrub_text(flag.get("reason") or ""),
        "found_at": _beijing(flag.get("created_at")),
        "covers": "every match, payment, receipt and audit entry of the flagged subject, under every policy "
        "/ 被标记对象在所有政策下的全部匹配、支付、回单和审计记录",
    }
    return Scope(FLAG, str(int(flag["id"])), about, [*sections, _audit_section(audit_where, audit_args)])


def _policy_scope(code: str, versions: list[dict[str, Any]]) -> Scope:
    c = "{}"
    keys = f"SELECT code || '@' || CAST(number AS TEXT) FROM policies_version WHERE code = {c}"
    audit_where = " OR ".join(
        [
            "(a.entity IN ('policy_version', 'ruleset') AND (a.entity_id IN ("
            + keys
            + f") OR a.entity_id IN (SELECT CAST(id AS TEXT) FROM policies_version WHERE code = {c}) "
            f"OR a.entity_id IN (SELECT CAST(version_id AS TEXT) FROM pay_budget WHERE policy_code = {c})))",
            _in(
                "batch",
                f"SELECT CAST(id AS TEXT) FROM pay_batch WHERE policy_code = {c}",
                f"SELECT CAST(batch_id AS TEXT) FROM pay_payment WHERE policy_code = {c}",
            ),
            _in(
                "entitlement",
                f"SELECT key FROM pay_entitlement WHERE policy_code = {c}",
                f"SELECT CAST(id AS TEXT) FROM pay_entitlement WHERE policy_code = {c}",
            ),
            _in("payment", f"SELECT CAST(id AS TEXT) FROM pay_payment WHERE policy_code = {c}"),
            _in("risk_flag", f"SELECT CAST(id AS TEXT) FROM pay_risk_flag WHERE policy_code = {c}"),
            _in("match", f"SELECT CAST(id AS TEXT) FROM eligibility_match WHERE code = {c}"),
            _in("application", f"SELECT CAST(id AS TEXT) FROM policies_application WHERE policy_code = {c}"),
        ]
    )
    sections = _sections(
        "m.code = {}",
        "p.policy_code = {}",
        "pay_receipt r JOIN pay_payment p ON p.id = r.payment_id",
        "p.policy_code = {}",
        (code,),
    )
    about = {
        "kind": POLICY,
        "policy_code": code,
        "versions": [
            {"id": int(v["id"]), "number": int(v["number"]), "status": v["status"]}
            for v in sorted(versions, key=lambda v: int(v["number"]))
        ],
        "covers": "every match, payment, receipt and audit entry of the policy, over all its versions "
        "/ 该政策所有版本的全部匹配、支付、回单和审计记录",
    }
    return Scope(POLICY, code, about, [*sections, _audit_section(audit_where, (code,) * 11)])


async def scope_of(kind: str, ref: str | int) -> Scope:
    """The scope of a flag (by id) or a policy (by code); NotFound (404) when it does not exist."""
    if kind == FLAG:
        return _flag_scope(await payments.get_flag(int(ref)))
    code = str(ref)
    return _policy_scope(code, await policies.versions_of(code))


# ------------------------------------------------------------------------------------------------ fingerprint, files


def _beijing(value: Any) -> str:
    instant = _instant(value)
    return in_china(instant).isoformat(timespec="seconds") if isinstance(instant, dt.datetime) else ""


def _instant(value: Any) -> Any:
    """A stored instant as a datetime (SQLite's driver hands back text; a naive one is UTC, as stored)."""
    if isinstance(value, str) and len(value) > 10:
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


async def fingerprint(scope: Scope) -> tuple[str, dict[str, int]]:
    """A digest of the rows the scope covers as they stand (what names the pack), and each section's last id."""
    parts: list[Any] = [FORMAT, scope.key]
    if scope.kind == FLAG:  # the flag's own decision is in the manifest
        f = await payments.get_flag(int(scope.ref))
        parts += [f["state"], f["decided_by"], f["first_cleared_by"], f["severity"], f["evidence"]]
    last: dict[str, int] = {}
    for s in scope.sections:
        row = (await raw(s.fingerprint_sql(), *s.args))[0]
        parts.append({k: str(v) for k, v in sorted(row.items())})
        last[s.name] = int(row["last"] or 0)
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16], last


def pack_dir() -> Path:
    return Path(get_settings().data_dir) / "evidence"


def pack_path(scope: Scope, digest: str) -> Path:
    """Policy codes are [A-Za-z0-9._-] (policies/packs/reading.py), flag ids numbers: safe as they are in a name."""
    return pack_dir() / f"{scope.kind}-{scope.ref}-{digest}.zip"


def download_name(scope: Scope) -> str:
    return f"evidence-{scope.kind}-{scope.ref}.zip"


async def _chunks(section: Section, last: int, counter: list[int]) -> AsyncIterator[list[dict[str, Any]]]:
    after = 0
    while True:
        rows = await raw(section.rows_sql(), *section.args, after, last)
        if not rows:
            return
        after = int(rows[-1]["pk"])
        out = []
        for r in rows:
            r = {k: (_instant(v) if k in _TIMES else v) for k, v in dict(r).items()}
            out.append(masked_entry(r) if section.masked else r)
        counter[0] += len(out)
        yield out
        if len(rows) < CHUNK:
            return


async def _write_section(archive: zipfile.ZipFile, section: Section, last: int) -> dict[str, Any]:
    sha, size, counter = hashlib.sha256(), 0, [0]
    with archive.open(section.name, "w", force_zip64=True) as member:
        async for block in csv_body(section.columns, _chunks(section, last, counter), "zh"):
            member.write(block)
            sha.update(block)
            size += len(block)
    return {
        "name": section.name,
        "sha256": sha.hexdigest(),
        "bytes": size,
        "rows": counter[0],
        "columns": [{"key": c.key, "zh": c.zh, "en": c.en} for c in section.columns],
    }


async def _chain() -> dict[str, Any]:
    """The audit trail's full walk at build time (`zhida audit verify`'s), and the sealed head it ended at."""
    result = await audit.verify()
    head = await raw("SELECT seq, hash FROM app_audit_head LIMIT 1")
    return {
        "verified": result.ok,
        "entries_checked": result.checked,
        "broken_seq": result.broken_seq,
        "reason": result.reason,
        "head_seq": int(head[0]["seq"]) if head else 0,
        "head_hash": head[0]["hash"] if head else audit.GENESIS,
        "head_seal": await audit.head_sealed() or "ok",
        "note": "hashes are of the stored entries; audit.csv masks personal numbers, so check entries with "
        "`zhida audit verify` on the platform / 哈希按存储的原始记录计算，audit.csv 中个人号码已脱敏",
    }


def _manifest(scope: Scope, digest: str, requested_by: str, files: list[dict], chain: dict) -> dict[str, Any]:
    at = china_now()
    return {
        "pack": "证据包 / evidence pack",
        "format": FORMAT,
        "of": scope.about,
        "built_at": at.isoformat(timespec="seconds"),
        "built_at_beijing": at.strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）",
        "built_by": requested_by,
        "fingerprint": digest,
        "profile_digest": "stored with each match (eligibility_match.profile_digest): the SHA-256 of the profile's "
        "stored field values that the match used, which the profile history keeps exactly (`zhida explain --decision "
        "ID` replays it) / 画像摘要为匹配时存储的画像字段值的 SHA-256",
        "masking": "talents' ID numbers and names and every account masked (kit/masking), as auditors see them; "
        "text cells that a spreadsheet would run as a formula start with ' / 身份证号、姓名、账号均已脱敏",
        "files": files,
        "audit_chain": chain,
    }


async def build(scope: Scope, requested_by: str) -> Path:
    """Write the pack of ``scope`` as its rows stand now (a file already built for them is kept); drop older packs of
    the same scope. Returns the ZIP's path."""
    digest, last = await fingerprint(scope)
    path = pack_path(scope, digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.part")
        try:
            with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                files = [await _write_section(archive, s, last[s.name]) for s in scope.sections]
                manifest = _manifest(scope, digest, requested_by, files, await _chain())
                archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, default=str))
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
        await audit.SYSTEM.record(
            "evidence.build",
            "evidence_pack",
            scope.key,
            after={"fingerprint": digest, "sha256": await asyncio.to_thread(file_sha256, path)},
            detail={"requested_by": requested_by, "rows": {f["name"]: f["rows"] for f in files}},
        )
    # Only this scope's own files: policy A's prefix "policy-A-" also starts policy A-B's names.
    mine = re.compile(re.escape(f"{scope.kind}-{scope.ref}-") + r"[0-9a-f]{16}\.zip")
    for old in path.parent.glob(f"{scope.kind}-{scope.ref}-*.zip"):
        if old != path and mine.fullmatch(old.name):
            old.unlink(missing_ok=True)
    return path


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


# ------------------------------------------------------------------------------------------------------ job, status


def job_id(scope: Scope, digest: str) -> str:
    """One build per scope and fingerprint: asking again while it is queued, running or kept queues nothing."""
    return f"evidence-pack:{scope.key}:{digest}"


async def build_evidence_pack(ctx: dict[str, Any], kind: str, ref: str, requested_by: str) -> dict[str, Any]:
    """The job (app.build_evidence_pack): ids only; the pack of the rows as they stand when it runs."""
    path = await build(await scope_of(kind, ref), requested_by)
    return {"kind": kind, "ref": ref, "file": path.name}


functions = [func(build_evidence_pack, name="app.build_evidence_pack", timeout=BUILD_TIMEOUT_SECONDS)]
