"""HTTP routes of the evidence pack (证据包, app/evidence.py) of a risk flag or a policy, for auditors only: prepare it
(a job, once per pack), follow it, download the ZIP. Every preparation and download is an audit entry."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arq.jobs import Job, JobStatus
from litestar import Request, get, post
from litestar.response import File, Redirect

from app import evidence, jobs
from app.audit import AuditActor
from app.auth.guards import current_user, requires
from app.evidence import FLAG, POLICY, Scope
from app.schemas.errors import errors
from app.schemas.oversight import EvidencePackRead
from kit.errors import Conflict
from kit.i18n import _l
from kit.vocab import Role

AUDITORS = requires(Role.AUDITOR)
_RUNNING = (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress)


@dataclass
class PackState:
    scope: Scope
    status: str  # absent | preparing | ready
    digest: str
    path: Path
    manifest: dict[str, Any] | None = None


def actor_of(request: Request) -> AuditActor:
    user = current_user(request)
    return AuditActor(user["username"], user["role"])


def _retry_key(base: str) -> str:
    return f"zhida:evidence-retry:{base}"


async def _current_job(queue: Any, base: str) -> str:
    """The id of this pack's build: the first one's, or the retry's after a build that ended without its file."""
    retry = await queue.get(_retry_key(base))
    return retry.decode() if isinstance(retry, bytes) else (retry or base)


async def state_of(scope: Scope) -> PackState:
    """Whether the pack of the rows as they stand now is built, being built, or neither."""
    digest, _ = await evidence.fingerprint(scope)
    path = evidence.pack_path(scope, digest)
    if path.exists():
        return PackState(scope, "ready", digest, path, await asyncio.to_thread(evidence.read_manifest, path))
    queue = await jobs.get_queue()
    job = await _current_job(queue, evidence.job_id(scope, digest))
    status = await Job(job, queue, _queue_name=jobs.QUEUE).status()
    return PackState(scope, "preparing" if status in _RUNNING else "absent", digest, path)


async def prepare(scope: Scope, actor: AuditActor) -> PackState:
    """Queue the build unless the pack is ready or being built (the same pack asked for twice is one job); recorded
    in the audit trail either way: who asked for which pack, and whether a build was queued."""
    state = await state_of(scope)
    queued = False
    if state.status == "absent":
        queue = await jobs.get_queue()
        base = evidence.job_id(scope, state.digest)
        args = ("app.build_evidence_pack", scope.kind, scope.ref, actor.name)
        job = await queue.enqueue_job(*args, _job_id=base)
        running = job is None and await Job(base, queue, _queue_name=jobs.QUEUE).status() in _RUNNING
        if job is None and not running:  # a build of these rows ended without its file (failed, or removed): again
            retry = f"{base}:{hashlib.sha256(os.urandom(8)).hexdigest()[:8]}"
            await queue.set(_retry_key(base), retry, ex=3600)
            job = await queue.enqueue_job(*args, _job_id=retry)
        queued = job is not None
        state.status = "preparing"
    await actor.record(
        "evidence.prepare", "evidence_pack", scope.key, detail={"fingerprint": state.digest, "queued": queued}
    )
    return state


def api_path(scope: Scope) -> str:
    return f"/api/oversight/{'flags' if scope.kind == FLAG else 'policies'}/{scope.ref}/evidence-pack"


def read(state: PackState) -> EvidencePackRead:
    m = state.manifest or {}
    return EvidencePackRead(
        kind=state.scope.kind,
        ref=state.scope.ref,
        status=state.status,
        fingerprint=state.digest,
        download=api_path(state.scope) + ".zip" if state.status == "ready" else None,
        built_at=m.get("built_at"),
        built_by=m.get("built_by"),
        files={f["name"]: int(f["rows"]) for f in m.get("files", [])},
        fraction={"ready": 1.0, "preparing": 0.3}.get(state.status, 0.0),
        done=state.status != "preparing",
    )


async def pack_read(kind: str, ref: str | int) -> EvidencePackRead:
    """The pack's state as the flag and policy pages show it."""
    return read(await state_of(await evidence.scope_of(kind, ref)))


async def _download(request: Request, scope: Scope) -> File:
    state = await state_of(scope)
    if state.status != "ready":
        raise Conflict(
            _l(
                "the evidence pack of {what} is {state}: prepare it with POST {path}, then download it here / 证据包尚未生成"
            ),
            what=scope.key,
            state=state.status,
            path=api_path(scope),
        )
    await actor_of(request).record(
        "evidence.download",
        "evidence_pack",
        scope.key,
        detail={"fingerprint": state.digest, "sha256": await asyncio.to_thread(evidence.file_sha256, state.path)},
    )
    return File(
        path=state.path,
        filename=evidence.download_name(scope),
        media_type="application/zip",
        headers={"cache-control": "private, no-store"},
    )


# ------------------------------------------------------------------------------------------------------------- API


@get(
    "/api/oversight/flags/{flag_id:int}/evidence-pack",
    guards=[AUDITORS],
    tags=["oversight"],
    summary="Whether a risk flag's evidence pack is ready, being prepared, or not prepared",
    responses=errors(404),
)
async def flag_pack_status(flag_id: int) -> EvidencePackRead:
    return await pack_read(FLAG, flag_id)


@post(
    "/api/oversight/flags/{flag_id:int}/evidence-pack",
    guards=[AUDITORS],
    tags=["oversight"],
    status_code=202,
    summary="Prepare a risk flag's evidence pack (a job); follow it with GET, then download it",
    responses=errors(404),
)
async def flag_pack_prepare(request: Request, flag_id: int) -> EvidencePackRead:
    """The flagged subject's matches, payments, receipts and audit entries as one ZIP with a manifest, built by a
    job: this returns at once with ``preparing`` (or ``ready`` when that pack is built already)."""
    return read(await prepare(await evidence.scope_of(FLAG, flag_id), actor_of(request)))


@get(
    "/api/oversight/flags/{flag_id:int}/evidence-pack.zip",
    guards=[AUDITORS],
    tags=["oversight"],
    media_type="application/zip",
    summary="A risk flag's evidence pack (ZIP: manifest.json and CSV files), once prepared",
    responses=errors(404, 409),
)
async def flag_pack_download(request: Request, flag_id: int) -> File:
    """The prepared ZIP; 409 while it is not built for the rows as they stand (POST …/evidence-pack first)."""
    return await _download(request, await evidence.scope_of(FLAG, flag_id))


@get(
    "/api/oversight/policies/{code:str}/evidence-pack",
    guards=[AUDITORS],
    tags=["oversight"],
    summary="Whether a policy's evidence pack is ready, being prepared, or not prepared",
    responses=errors(404),
)
async def policy_pack_status(code: str) -> EvidencePackRead:
    return await pack_read(POLICY, code)


@post(
    "/api/oversight/policies/{code:str}/evidence-pack",
    guards=[AUDITORS],
    tags=["oversight"],
    status_code=202,
    summary="Prepare a policy's evidence pack (a job); follow it with GET, then download it",
    responses=errors(404),
)
async def policy_pack_prepare(request: Request, code: str) -> EvidencePackRead:
    """Every version's matches, the payments, receipts and audit entries of the policy as one ZIP with a manifest."""
    return read(await prepare(await evidence.scope_of(POLICY, code), actor_of(request)))


@get(
    "/api/oversight/policies/{code:str}/evidence-pack.zip",
    guards=[AUDITORS],
    tags=["oversight"],
    media_type="application/zip",
    summary="A policy's evidence pack (ZIP: manifest.json and CSV files), once prepared",
    responses=errors(404, 409),
)
async def policy_pack_download(request: Request, code: str) -> File:
    return await _download(request, await evidence.scope_of(POLICY, code))


# ----------------------------------------------------------------------------------------------------- the buttons


@post("/oversight/flags/{flag_id:int}/evidence-pack", guards=[AUDITORS], include_in_schema=False)
async def flag_pack_page(request: Request, flag_id: int) -> Redirect:
    """The flag page's button: queue the build and go back to the page, which shows "preparing", then the link."""
    await prepare(await evidence.scope_of(FLAG, flag_id), actor_of(request))
    return Redirect(f"/oversight/flags/{flag_id}?msg=evidence")


@post("/oversight/policies/{code:str}/evidence-pack", guards=[AUDITORS], include_in_schema=False)
async def policy_pack_page(request: Request, code: str) -> Redirect:
    """The policy page's button (auditors see policies at /policies/{code})."""
    scope = await evidence.scope_of(POLICY, code)
    await prepare(scope, actor_of(request))
    return Redirect(f"/policies/{scope.ref}?msg=evidence")


route_handlers = [
    flag_pack_status,
    flag_pack_prepare,
    flag_pack_download,
    policy_pack_status,
    policy_pack_prepare,
    policy_pack_download,
    flag_pack_page,
    policy_pack_page,
]
