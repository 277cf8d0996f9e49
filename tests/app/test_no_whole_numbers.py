"""No whole ID number or account in the server's log, in job arguments, or in the audit API and page (security review,
item 10): a talent's profile arrives from the data exchange while a policy is live, its re-match job is queued and
run, and the auditor reads the trail."""

from __future__ import annotations

import io
import json
import logging

from app import jobs
from app.audit import AuditActor
from eligibility.feeds import create_feed_key
from policies import service as policies
from tests.policies.test_service import ALICE, BOB, POLICY
from tests.web import alogin, asgi_client, ensure_user

ID_NUMBER = "360102199207081233"
MASKED_ID = "360***********1233"
ACCOUNT = "6222020200001234567"
TALENT = {
    "id_number": ID_NUMBER,
    "name": "张三明",
    "region_code": "360102",
    "education": "doctor",
    "arrived_on": "2024-01-15",
    "social_insurance_months": "12",
    "bank_name": "工商银行",
    "bank_account": ACCOUNT,
}


async def _arrives_while_a_policy_is_live() -> None:
    """The feed sends the profile through the exchange API; a live talent policy makes it queue a re-match job."""
    version = await policies.save_draft(POLICY, ALICE)
    await policies.submit(version.id, ALICE)
    await policies.publish_version(version.id, BOB)
    key = await create_feed_key("hr-bureau", "talent", actor=AuditActor("admin", "admin"))
    async with asgi_client() as client:
        r = await client.post("/api/exchange/talent/profiles", json=TALENT, headers={"x-api-key": key})
        assert r.status_code == 200 and r.json()["inserted"] == 1, r.text


async def test_job_arguments_and_the_log_hold_no_whole_id_number_or_account(fresh_db):
    await _arrives_while_a_policy_is_live()
    queued = await (await jobs.get_queue()).queued_jobs()
    rematch = [j for j in queued if j.function.startswith("eligibility.rematch")]
    assert rematch, [j.function for j in queued]
    arguments = repr([(j.function, j.args, j.kwargs) for j in queued])
    assert ID_NUMBER not in arguments and ACCOUNT not in arguments, arguments

    # The app's logging set-up replaces the root handlers (pytest's caplog among them): capture with our own.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        await jobs.drain()
        # Whatever a message or a trace quotes is masked too (a driver's error, a message naming a profile).
        try:
            raise ValueError(f"no profile {ID_NUMBER} with account {ACCOUNT}")
        except ValueError:
            logging.getLogger("zhida").exception("profile %s failed", ID_NUMBER)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    logged = stream.getvalue()
    assert "eligibility.rematch" in logged  # arq's line for the job was captured
    assert ID_NUMBER not in logged and ACCOUNT not in logged, logged
    assert MASKED_ID in logged


async def test_the_audit_api_and_page_show_id_numbers_and_accounts_masked(fresh_db):
    await _arrives_while_a_policy_is_live()
    await ensure_user(ID_NUMBER, "talent")  # a talent's user name is its ID number: the trail names it as actor too
    for role in ("auditor", "admin"):
        await ensure_user(f"a_{role}", role)
        async with asgi_client() as client:
            await alogin(client, f"a_{role}")
            entries = (await client.get("/api/audit")).json()
            text = json.dumps(entries, ensure_ascii=False)
            assert ID_NUMBER not in text and ACCOUNT not in text, text[:2000]
            assert MASKED_ID in text
            page = (await client.get("/audit")).text
            assert ID_NUMBER not in page and MASKED_ID in page
            for fmt in ("csv", "xlsx"):  # the download is masked as the page is
                download = await client.get(f"/audit/export?format={fmt}")
                assert download.status_code == 200
                if fmt == "csv":
                    assert ID_NUMBER not in download.text and ACCOUNT not in download.text
                    assert MASKED_ID in download.text
            # A whole number the auditor already holds still finds its entries.
            found = (await client.get(f"/api/audit?entity_id={ID_NUMBER}")).json()
            assert found and all(e["entity_id"] == MASKED_ID for e in found)
