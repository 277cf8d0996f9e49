"""Long jobs show a progress bar polled from a JSON endpoint by our own script (CSP nonce), not a meta refresh; without
JavaScript the page still refreshes itself (<noscript>)."""

from __future__ import annotations

import re

from app import jobs, publication
from app.audit import AuditActor
from payments.service import approve_batch, create_batch, start_batch
from policies import service as policies
from tests.app.test_home import _policy
from tests.payments.factories import CHECKER, MAKER, SYSTEM, THRESHOLD_FEN, entitled, policy
from tests.web import alogin, asgi_client, ensure_user


def _bar(html: str) -> str | None:
    m = re.search(r'<div class="progress-box".*?</noscript>\s*</div>', html, re.S)
    return m.group(0) if m else None


def _script_has_nonce(response) -> bool:
    nonce = re.search(r"'nonce-([^']+)'", response.headers["content-security-policy"]).group(1)
    return f'<script src="/static/progress.js" nonce="{nonce}"' in response.text


async def test_a_running_batch_shows_a_polled_bar_not_a_meta_refresh(fresh_db):
    await ensure_user("maker1", "finance_maker")
    facts = policy(budget_fen=10**9)
    await entitled(facts, 4, amount_fen=10_000)
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await approve_batch(made.batch_id, actor=CHECKER)
    await start_batch(made.batch_id, actor=SYSTEM)  # running, no payment sent yet
    async with asgi_client() as client:
        await alogin(client, "maker1")
        r = await client.get(f"/finance/batches/{made.batch_id}")
        assert 'http-equiv="refresh"' not in r.text.split("<noscript>")[0].split("</head>")[0]
        assert '<noscript><meta http-equiv="refresh"' in r.text  # the no-JS fallback
        bar = _bar(r.text)
        assert bar and f'data-progress-url="/api/finance/batches/{made.batch_id}/progress"' in bar
        assert _script_has_nonce(r)
        p = (await client.get(f"/api/finance/batches/{made.batch_id}/progress")).json()
        assert p["fraction"] == 0.0 and p["done"] is False
        js = await client.get("/static/progress.js")
        assert js.status_code == 200 and "data-progress-url" in js.text and "http" not in js.text.split("\n", 4)[-1]


async def test_a_publication_shows_matching_progress_until_its_job_is_done(fresh_db):
    await ensure_user("p_officer", "policy_officer")
    await ensure_user("p_reviewer", "policy_reviewer")
    officer, reviewer = AuditActor("p_officer", "policy_officer"), AuditActor("p_reviewer", "policy_reviewer")
    v = await policies.save_draft(_policy("P-PROG"), officer)
    await policies.submit(v.id, officer)
    await publication.publish(v.id, reviewer, accept_shortfall=True)  # the matching job is queued, not run
    async with asgi_client() as client:
        await alogin(client, "p_reviewer")
        r = await client.get(f"/policies/P-PROG?v={v.id}")
        bar = _bar(r.text)
        assert bar and f"/api/policies/versions/{v.id}/publication-progress" in bar and "已排队" in bar
        assert _script_has_nonce(r)
        p = (await client.get(f"/api/policies/versions/{v.id}/publication-progress")).json()
        assert p["stage"] == "queued" and p["done"] is False
        await jobs.drain()
        p = (await client.get(f"/api/policies/versions/{v.id}/publication-progress")).json()
        assert p["stage"] == "done" and p["done"] is True and p["fraction"] == 1.0
        assert _bar((await client.get(f"/policies/P-PROG?v={v.id}")).text) is None
        draft = await policies.save_draft(_policy("P-DRAFT"), officer)
        assert (await client.get(f"/api/policies/versions/{draft.id}/publication-progress")).status_code == 404
