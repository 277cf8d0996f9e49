"""A subject's portal home says what waits for it (issue 17): to-do cards like the staff homes, each count checked
here against an independent SQL query over the same rows."""

from __future__ import annotations

import re

from app.tables import User
from tests.portal.conftest import csrf as csrf_headers
from tests.portal.fixtures import APPLY_TALENT, FINANCE, PDF, REVIEWER, TALENT_B


async def _count(sql: str, *args) -> int:
    rows = await User.raw(sql, *args)
    return int(next(iter(rows[0].values())))


def _cards(html: str) -> dict[str, int]:
    return {k: int(n) for k, n in re.findall(r'data-testid="count-([a-z_]+)">(\d+)<', html)}


async def test_portal_home_cards_count_what_waits_for_the_subject(world, client_as):
    t, r1, finance = await client_as(TALENT_B), await client_as(REVIEWER), await client_as(FINANCE)
    # an application under review, and a rejected one with an objection the officer answered
    first = (
        await t.post(
            f"/api/portal/policies/{world.versions[APPLY_TALENT]}/applications",
            data={"statement": "我符合条件"},
            files=[("files", ("d.pdf", PDF, "application/pdf"))],
            headers=csrf_headers(t),
        )
    ).json()
    await r1.post(f"/api/applications/{first['id']}/reject", json={"reason": "证书不清晰"}, headers=csrf_headers(r1))
    obj = (
        await t.post(
            "/api/portal/objections",
            json={"target": "application", "target_id": first["id"], "text": "证书已重新上传"},
            headers=csrf_headers(t),
        )
    ).json()
    await r1.post(
        f"/api/applications/objections/{obj['id']}/answer", json={"answer": "请重新提交"}, headers=csrf_headers(r1)
    )
    second = await t.post(
        f"/api/portal/policies/{world.versions[APPLY_TALENT]}/applications",
        data={"statement": "再次申请"},
        files=[("files", ("d.pdf", PDF, "application/pdf"))],
        headers=csrf_headers(t),
    )
    assert second.status_code == 201, second.text
    # a corrected account that finance sends back
    r = await t.put(
        "/api/portal/account", json={"bank_name": "建设银行", "account": "6227000000003333"}, headers=csrf_headers(t)
    )
    assert r.status_code == 200 and r.json()["status"] == "unverified"
    home = (await t.get("/portal")).text
    cards = _cards(home)
    assert cards.get("account_verifying") == 1, cards
    r = await finance.post(
        f"/api/applications/accounts/talent/{TALENT_B}/reject",
        json={"reason": "户名不符"},
        headers=csrf_headers(finance),
    )
    assert r.status_code == 200, r.text

    home = (await t.get("/portal")).text
    cards = _cards(home)
    key = f"talent:{TALENT_B}"
    expected = {
        "unread": await _count(
            "SELECT COUNT(*) AS n FROM notifications_notice WHERE recipient_key = {} AND read_at IS NULL", key
        ),
        "applications": await _count(
            "SELECT COUNT(*) AS n FROM policies_application WHERE subject_kind = 'talent' AND subject_id = {} "
            "AND status IN ('submitted', 'first_approved')",
            TALENT_B,
        ),
        "objections_answered": await _count(
            "SELECT COUNT(*) AS n FROM policies_objection WHERE subject_id = {} AND status = 'answered'", TALENT_B
        ),
        "account_rejected": await _count(
            "SELECT COUNT(*) AS n FROM policies_subject_account WHERE subject_id = {} AND status = 'rejected'", TALENT_B
        ),
        "waiting_account": await _count(
            "SELECT COUNT(*) AS n FROM pay_entitlement WHERE subject_id = {} AND state = 'waiting_account'", TALENT_B
        ),
    }
    assert expected["unread"] >= 2 and expected["applications"] == 1 and expected["objections_answered"] == 1
    assert expected["account_rejected"] == 1
    assert {k: v for k, v in cards.items() if k in expected} == {k: v for k, v in expected.items() if v}, cards
    assert "account_verifying" not in cards  # it was sent back
    assert 'href="#account"' in home and 'id="account"' in home and 'href="/portal/inbox"' in home
    # the same cards in English
    t.cookies.set("lang", "en")
    assert "Objections answered" in (await t.get("/portal")).text
