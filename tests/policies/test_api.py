"""The policies JSON API and pages through HTTP: roles, validation messages, immutability, the officer's form."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from app.main import create_app
from tests.policies.test_service import POLICY, v2_of
from tests.web import PASSWORD, ensure_user


@pytest.fixture
async def users(fresh_db):
    for name, role in (
        ("officer", "policy_officer"),
        ("officer2", "policy_officer"),
        ("reviewer", "policy_reviewer"),
        ("maker", "finance_maker"),
        ("auditor", "auditor"),
    ):
        await ensure_user(name, role)


def csrf_headers(client) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken")}


class As:
    """One user's view of the shared test client: logs in as that user before each request when needed."""

    def __init__(self, client, state: dict, name: str) -> None:
        self.client, self.state, self.name = client, state, name

    @property
    def cookies(self):
        return self.client.cookies

    async def _ensure(self) -> None:
        if self.state.get("user") != self.name:
            await self.client.get("/login")
            r = await self.client.post(
                "/login",
                data={"username": self.name, "password": PASSWORD, "next": "/"},
                headers=csrf_headers(self.client),
                follow_redirects=False,
            )
            assert r.status_code == 302, r.text
            self.state["user"] = self.name

    async def get(self, *a, **kw):
        await self._ensure()
        return await self.client.get(*a, **kw)

    async def post(self, url, *a, headers=None, **kw):
        await self._ensure()  # logging in renews the CSRF cookie, so the header is taken afterwards
        return await self.client.post(url, *a, headers={**(headers or {}), **csrf_headers(self.client)}, **kw)

    async def put(self, url, *a, headers=None, **kw):
        await self._ensure()
        return await self.client.put(url, *a, headers={**(headers or {}), **csrf_headers(self.client)}, **kw)


@pytest.fixture
async def app_(users):
    """Users of one test client. The app runs on the client's own event loop (a thread) with its own database
    pool, so the test's pool is closed meanwhile (PostgreSQL connections belong to one loop) and the test makes
    no database calls of its own while the client is open."""
    from app.db import close_database, open_database

    await close_database()
    try:
        async with AsyncTestClient(create_app()) as client:
            state: dict = {}

            async def client_as(name):
                return As(client, state, name)

            yield client_as
    finally:
        await open_database()


async def _publish_page(reviewer, vid: int, seen: str):
    """The reviewer's publish form sent with the content hash the review page pinned; the page it leads to."""
    data = {"as_of": "", "content_hash": seen}
    return await reviewer.post(
        f"/policies/versions/{vid}/publish", data=data, headers=csrf_headers(reviewer), follow_redirects=True
    )


async def test_a_draft_edited_after_review_is_not_published_unseen(app_):
    """Maker-checker on content: the review page pins the content the reviewer saw; an officer's edit in between (sent
    back, changed, submitted again) makes the publication refused (page and API alike) until the reviewer has looked
    again."""
    officer, reviewer = await app_("officer"), await app_("reviewer")
    vid = (await officer.post("/api/policies", json=POLICY, headers=csrf_headers(officer))).json()["id"]
    assert (await officer.post(f"/api/policies/versions/{vid}/submit")).status_code == 200
    seen = (await reviewer.get(f"/api/policies/versions/{vid}")).json()["content_hash"]
    page = (await reviewer.get(f"/policies/{POLICY['code']}?v={vid}")).text
    assert f'name="content_hash" value="{seen}"' in page
    r = await reviewer.post(f"/api/policies/versions/{vid}/reject", json={"reason": "再看看"})
    assert r.status_code == 200, r.text
    r = await officer.put(f"/api/policies/versions/{vid}", json=v2_of(POLICY), headers=csrf_headers(officer))
    assert r.status_code == 200, r.text
    assert (await officer.post(f"/api/policies/versions/{vid}/submit")).status_code == 200
    r = await _publish_page(reviewer, vid, seen)
    assert "在审核后又有改动" in r.text  # the page speaks Chinese (the API stays English)
    r = await reviewer.post(
        f"/api/policies/versions/{vid}/publish", json={"content_hash": seen}, headers=csrf_headers(reviewer)
    )
    assert r.status_code == 409 and "changed since it was reviewed" in r.json()["error"]
    now = (await reviewer.get(f"/api/policies/versions/{vid}")).json()
    assert now["status"] == "in_review" and now["content_hash"] != seen
    # A form without the pin (e.g. a page from before this check) is refused too.
    r = await reviewer.post(
        f"/policies/versions/{vid}/publish", data={"as_of": ""}, headers=csrf_headers(reviewer), follow_redirects=True
    )
    assert "在审核后又有改动" in r.text
    r = await reviewer.post(
        f"/api/policies/versions/{vid}/publish",
        json={"content_hash": now["content_hash"]},
        headers=csrf_headers(reviewer),
    )
    assert r.status_code == 200 and r.json()["status"] == "published"


async def test_api_lifecycle_and_a_published_version_cannot_be_changed(app_):
    officer, reviewer, maker = await app_("officer"), await app_("reviewer"), await app_("maker")
    r = await officer.post("/api/policies", json=POLICY, headers=csrf_headers(officer))
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    assert (await maker.get("/api/policies")).status_code == 403
    assert (await maker.post("/api/policies", json=POLICY, headers=csrf_headers(maker))).status_code == 403
    assert (
        await officer.post(f"/api/policies/versions/{vid}/publish", headers=csrf_headers(officer))
    ).status_code == 403
    r = await officer.post(f"/api/policies/versions/{vid}/tests", headers=csrf_headers(officer))
    assert [o["passed"] for o in r.json()] == [True, True, True]
    assert (
        await officer.post(f"/api/policies/versions/{vid}/submit", headers=csrf_headers(officer))
    ).status_code == 200
    r = await reviewer.get(f"/api/policies/versions/{vid}/impact?as_of=2025-06-30")
    assert r.status_code == 200 and r.json()["budget"] == "1000000.00"
    r = await reviewer.post(
        f"/api/policies/versions/{vid}/publish", json={"as_of": "2025-06-30"}, headers=csrf_headers(reviewer)
    )
    assert r.status_code == 200 and r.json()["status"] == "published"
    before = (await officer.get(f"/api/policies/versions/{vid}")).json()
    r = await officer.put(f"/api/policies/versions/{vid}", json=v2_of(POLICY), headers=csrf_headers(officer))
    assert r.status_code == 409 and "cannot be changed" in r.json()["error"]
    assert (await officer.get(f"/api/policies/versions/{vid}")).json() == before
    r = await officer.post("/api/policies", json=v2_of(POLICY), headers=csrf_headers(officer))
    assert r.status_code == 201 and r.json()["number"] == 2
    v2 = r.json()["id"]
    assert (await officer.get(f"/api/policies/versions/{vid}")).json() == before
    diff = {
        d["item"]: (d["before"], d["after"]) for d in (await reviewer.get(f"/api/policies/versions/{v2}/diff")).json()
    }
    assert diff["budget"] == ("1000000.00", "2000000.00")
    assert diff["clause bachelor.when"] == ("", 'education == "bachelor"')
    assert diff["clause doctor.amount"] == ("100000", "120000")
    assert "title" not in diff
    r = await reviewer.get(f"/api/policies/versions/{v2}/impact?as_of=2025-06-30")
    assert r.json()["published_number"] == 1 and r.json()["budget_delta"] == "1000000.00"
    r = await officer.get(f"/api/policies/versions/{v2}/export")
    assert r.status_code == 200 and "code: T-HOUSING" in r.text
    r = await officer.post("/api/policies/packs", content=r.text.encode(), headers=csrf_headers(officer))
    assert r.status_code == 201 and r.json()[0]["outcome"] == "unchanged"
    pub = (await reviewer.get("/api/policies/published?subject=talent")).json()
    assert [p["code"] for p in pub] == ["T-HOUSING"] and pub[0]["budget_fen"] == 100_000_000
    r = await reviewer.post(
        "/api/policies/T-HOUSING/suspend", json={"reason": "资金调整"}, headers=csrf_headers(reviewer)
    )
    assert r.status_code == 200 and r.json()["status"] == "suspended"


async def test_api_refusals_carry_every_problem(app_):
    officer = await app_("officer")
    bad = {
        **POLICY,
        "budgett": 1,
        "clauses": [
            {"code": "c1", "when": 'educaton == "doctor"', "amount": "1"},
            {"code": "c1", "when": "true", "amount": '"x"'},
        ],
    }
    r = await officer.post("/api/policies", json=bad, headers=csrf_headers(officer))
    assert r.status_code == 422
    body = r.json()
    assert "nothing was stored" in body["error"]
    fields = {(p["clause_code"], p["field"]) for p in body["detail"]}
    assert (None, "budgett") in fields and ("c1", "when") in fields and ("c1", "clauses[1].code") in fields
    assert any("education" in (p["hint"] or "") for p in body["detail"])
    assert (await officer.get("/api/policies")).json() == []
    r = await officer.post(
        "/api/policies/check", json={"subject": "talent", "expression": "agee > 3"}, headers=csrf_headers(officer)
    )
    assert r.json()["ok"] is False and "did you mean 'age'" in r.json()["problems"][0]["message"] + str(
        r.json()["problems"][0]["hint"]
    )
    r = await officer.post(
        "/api/policies/check", json={"subject": "talent", "expression": "age > 3"}, headers=csrf_headers(officer)
    )
    # No profile at all: a count below 10 is never shown, and a rule over age is counted as of today only.
    body = r.json()
    assert body["ok"] is True and body["matched"] is None and "fewer than 10" in body["count_withheld"], body
    assert "as of today" in body["as_of_pinned"], body
    r = await officer.post(
        "/api/policies/check",
        json={"subject": "enterprise", "expression": '"x"', "part": "amount"},
        headers=csrf_headers(officer),
    )
    assert r.json()["ok"] is False and "not a number" in r.json()["problems"][0]["message"]


async def test_officer_form_shows_problems_then_saves_and_the_reviewer_page_publishes(app_):
    officer, reviewer = await app_("officer"), await app_("reviewer")
    assert "新建政策" in (await officer.get("/policies/new")).text
    form = {
        "code": "FORM-1",
        "title": "表单政策",
        "issuer": "测试局",
        "subject": "talent",
        "mode": "apply",
        "effective_from": "2025-01-01",
        "budget": "50000",
        "combine": "first",
        "clause_code": ["a", "b"],
        "clause_title": ["甲", "乙"],
        "clause_when": ['educaton == "doctor"', 'education == "master"'],
        "clause_amount": ["3000", "1000"],
        "tests_yaml": '- name: 硕士\n  profile: {id_number: "360102198801011233", education: master}\n'
        "  as_of: 2025-06-30\n  expect: {eligible: true, clauses: [b], amount: 1000}\n",
    }
    r = await officer.post("/policies/save", data=form, headers=csrf_headers(officer))
    assert r.status_code == 422 and "是否要写“education”" in r.text and "did you mean" not in r.text
    form["clause_when"] = ['education == "doctor"', 'education == "master"']
    r = await officer.post("/policies/save", data=form, headers=csrf_headers(officer), follow_redirects=False)
    assert r.status_code in (302, 303), r.text[:500]
    page = (await officer.get(r.headers["location"])).text
    assert "草稿已保存" in page and "表单政策" in page
    vid = (await officer.get("/api/policies/FORM-1")).json()["latest"]["id"]
    r = await officer.post(f"/policies/versions/{vid}/tests", headers=csrf_headers(officer))
    assert "通过 1 / 1" in r.text
    # Its one test passes, but clause a is never shown to pay and nothing shows who is not paid: not submitted.
    r = await officer.post(f"/policies/versions/{vid}/submit", headers=csrf_headers(officer), follow_redirects=True)
    assert "no test where clause a (甲) pays" in r.text and "no test where the policy does not pay" in r.text
    assert (await officer.get(f"/api/policies/versions/{vid}")).json()["status"] == "draft"
    form["version_id"] = str(vid)
    form["tests_yaml"] += (
        '- name: 博士\n  profile: {id_number: "360102198801011233", education: doctor}\n'
        "  as_of: 2025-06-30\n  expect: {eligible: true, clauses: [a], amount: 3000}\n"
        '- name: 本科\n  profile: {id_number: "360102198801011233", education: bachelor}\n'
        "  as_of: 2025-06-30\n  expect: {eligible: false}\n"
    )
    r = await officer.post("/policies/save", data=form, headers=csrf_headers(officer), follow_redirects=False)
    assert r.status_code in (302, 303), r.text[:500]
    del form["version_id"]
    r = await officer.post(f"/policies/versions/{vid}/submit", headers=csrf_headers(officer), follow_redirects=True)
    assert "已提交审核" in r.text
    assert "FORM-1" in (await reviewer.get("/policies?status=in_review")).text
    r = await reviewer.post(
        f"/policies/versions/{vid}/impact", data={"as_of": "2025-06-30"}, headers=csrf_headers(reviewer)
    )
    # No profile matches: fewer than 10 subjects, so the draft's preview shows no count.
    assert 'data-testid="impact-withheld"' in r.text and 'data-testid="impact-matched"' not in r.text
    r = await reviewer.post(
        f"/policies/versions/{vid}/reject",
        data={"reason": "金额需核实"},
        headers=csrf_headers(reviewer),
        follow_redirects=True,
    )
    assert "金额需核实" in r.text
    assert 'data-testid="publish"' not in (await reviewer.get(f"/policies/FORM-1?v={vid}")).text
    r = await officer.post(f"/policies/versions/{vid}/submit", headers=csrf_headers(officer), follow_redirects=True)
    assert 'data-testid="publish"' in (await reviewer.get(f"/policies/FORM-1?v={vid}")).text
    seen = (await reviewer.get(f"/api/policies/versions/{vid}")).json()["content_hash"]
    r = await _publish_page(reviewer, vid, seen)
    assert 'data-testid="status">已发布' in r.text
    # The edit page of a published version refuses to open; the save route refuses to change it.
    r = await officer.get(f"/policies/versions/{vid}/edit", follow_redirects=True)
    assert "不能修改" in r.text
    form["version_id"] = str(vid)
    r = await officer.post("/policies/save", data=form, headers=csrf_headers(officer))
    assert r.status_code == 409
    assert "FORM-1" in (await officer.get("/policies?q=表单")).text
    assert "FORM-1" not in (await officer.get("/policies?q=不存在")).text


async def test_a_rejected_draft_offers_no_publish_button_and_is_not_published_over_http(app_):
    """Issue 16 #3: after a rejection the reviewer still got 审核通过并发布 and published what the officer never
    resubmitted. Sent back, the version offers no such button, and neither the page's route nor the API publishes
    it; resubmitted by its author, it is published."""
    officer, reviewer = await app_("officer"), await app_("reviewer")
    vid = (await officer.post("/api/policies", json=POLICY)).json()["id"]
    assert (await officer.post(f"/api/policies/versions/{vid}/submit")).status_code == 200
    assert 'data-testid="publish"' in (await reviewer.get(f"/policies/{POLICY['code']}?v={vid}")).text
    r = await reviewer.post(f"/policies/versions/{vid}/reject", data={"reason": "金额需核实"}, follow_redirects=True)
    assert "金额需核实" in r.text
    page = (await reviewer.get(f"/policies/{POLICY['code']}?v={vid}")).text
    assert 'data-testid="publish"' not in page and 'data-testid="status">草稿' in page
    seen = (await reviewer.get(f"/api/policies/versions/{vid}")).json()["content_hash"]
    r = await reviewer.post(
        f"/policies/versions/{vid}/publish", data={"as_of": "", "content_hash": seen}, follow_redirects=True
    )
    assert "sent back to its author by reviewer (金额需核实)" in r.text
    r = await reviewer.post(f"/api/policies/versions/{vid}/publish", json={"content_hash": seen})
    assert r.status_code == 409 and "sent back to its author" in r.json()["error"]
    assert (await reviewer.get(f"/api/policies/versions/{vid}")).json()["status"] == "draft"
    assert (await officer.post(f"/api/policies/versions/{vid}/submit")).status_code == 200
    r = await reviewer.post(f"/api/policies/versions/{vid}/publish", json={"content_hash": seen})
    assert r.status_code == 200 and r.json()["status"] == "published"


async def test_the_review_page_asks_to_confirm_a_budget_shortfall(twelve_talents, app_):
    officer, reviewer = await app_("officer"), await app_("reviewer")
    doctors = {**POLICY, "code": "T-SHORT", "exclusive_group": None, "budget": "1", "when": None}
    vid = (await officer.post("/api/policies", json=doctors)).json()["id"]
    assert (await officer.post(f"/api/policies/versions/{vid}/submit")).status_code == 200
    page = (await reviewer.get(f"/policies/T-SHORT?v={vid}&as_of=2025-06-30")).text
    assert 'data-testid="accept-shortfall"' in page
    seen = (await reviewer.get(f"/api/policies/versions/{vid}")).json()["content_hash"]
    form = {"as_of": "2025-06-30", "content_hash": seen}
    r = await reviewer.post(f"/policies/versions/{vid}/publish", data=form, follow_redirects=True)
    assert "发布须明确确认接受该缺口" in r.text
    r = await reviewer.post(
        f"/policies/versions/{vid}/publish", data={**form, "accept_shortfall": "yes"}, follow_redirects=True
    )
    assert 'data-testid="status">已发布' in r.text


@pytest.fixture
async def twelve_talents(users):
    """Twelve talents with bank accounts (a count below 10 is never shown), stored before the test client opens (it then has the database to itself)."""
    from app.audit import AuditActor
    from eligibility.service import upsert_profile
    from tests.policies.test_service import _talents

    people = [{**p, "bank_account": f"62220202000{i:05d}"} for i, p in enumerate(_talents(12))]
    for p in people:
        await upsert_profile("talent", p, actor=AuditActor("feed", "system"))
    return people


async def test_rule_tools_give_no_count_over_personal_fields(twelve_talents, app_):
    """A match count answers yes or no: bisecting `bank_account >= "…"` or `id_number >= "…"` would spell a value out
    that the officer only ever sees masked. The rule editor and the impact preview count nothing for a rule reading a
    personal field; an ordinary rule is counted as before; the auditor has no rule editor."""
    people = twelve_talents
    officer, reviewer, auditor = await app_("officer"), await app_("reviewer"), await app_("auditor")

    async def check(who, expression):
        r = await who.post(
            "/api/policies/check",
            json={"subject": "talent", "expression": expression, "as_of": "2025-06-30"},
            headers=csrf_headers(who),
        )
        return r

    # age is derived from the ID number: counted, but as of today whatever as_of says (tests/policies/test_counts.py).
    body = (await check(officer, "age >= 0")).json()
    assert body["matched"] == 12 and "as of today" in body["as_of_pinned"], body
    assert (await check(reviewer, "social_insurance_months >= 0")).json() == {"ok": True, "problems": [], "matched": 12}
    for expression in (
        'bank_account >= "6222020200000003"',
        f'id_number == "{people[0]["id_number"]}"',
        'age >= 0 and name =~ "^人才"',
        'bank_name == "工商银行" or age > 200',
    ):
        body = (await check(officer, expression)).json()
        assert body["ok"] is True and body["matched"] is None, (expression, body)
        assert "personal fields" in body["count_withheld"], body
    assert (await check(auditor, "age >= 0")).status_code == 403

    draft = {
        **POLICY,
        "code": "T-PERSONAL",
        "exclusive_group": None,
        "clauses": [{**POLICY["clauses"][0], "when": 'education == "doctor" and bank_account >= "6222"'}],
        "tests": [
            {**POLICY["tests"][0], "profile": {**POLICY["tests"][0]["profile"], "bank_account": "62220202000123456"}},
            POLICY["tests"][-1],
        ],
    }
    vid = (await officer.post("/api/policies", json=draft, headers=csrf_headers(officer))).json()["id"]
    assert (await officer.post(f"/api/policies/versions/{vid}/submit")).status_code == 200
    impact = (await reviewer.get(f"/api/policies/versions/{vid}/impact?as_of=2025-06-30")).json()
    assert impact["matched"] is None and impact["total_amount"] is None and "bank_account" in impact["withheld"]
    r = await reviewer.post(
        f"/policies/versions/{vid}/impact", data={"as_of": "2025-06-30"}, headers=csrf_headers(reviewer)
    )
    assert 'data-testid="impact-withheld"' in r.text and 'data-testid="impact-matched"' not in r.text
    # Published all the same (a rule may read any field); the stored impact says why it has no count.
    seen = (await reviewer.get(f"/api/policies/versions/{vid}")).json()["content_hash"]
    r = await reviewer.post(
        f"/api/policies/versions/{vid}/publish",
        json={"as_of": "2025-06-30", "content_hash": seen},
        headers=csrf_headers(reviewer),
    )
    assert r.status_code == 200 and r.json()["status"] == "published", r.text
    stored = (await reviewer.get(f"/api/policies/versions/{vid}/publication-impact")).json()
    assert stored["matched"] is None and "bank_account" in stored["withheld"]


async def test_api_draft_takes_once_and_top_up_and_refuses_bad_ones(app_):
    officer = await app_("officer")
    r = await officer.post("/api/policies", json={**POLICY, "once": "per_year", "top_up": True})
    assert r.status_code in (200, 201), r.text
    content = r.json()["content"]
    assert (content["once"], content["top_up"]) == ("per_year", True)
    assert (await officer.get(f"/api/policies/versions/{r.json()['id']}")).json()["content"]["once"] == "per_year"
    r = await officer.post("/api/policies", json={**POLICY, "code": "T-BAD-ONCE", "once": "twice", "top_up": "yes"})
    assert r.status_code == 422
    fields = {p["field"]: p["message"] for p in r.json()["detail"]}
    assert "lifetime, per_year, per_version" in fields["once"] and "true or false" in fields["top_up"]


async def test_live_check_speaks_the_editors_language(app_):
    """The rule editor's check answers in the page's language: Chinese for zh, the English msgid for en."""
    officer = await app_("officer")
    body = {"subject": "talent", "expression": "agee > 3"}
    zh = await officer.post(
        "/api/policies/check", json=body, headers={**csrf_headers(officer), "accept-language": "zh-CN"}
    )
    en = await officer.post(
        "/api/policies/check", json=body, headers={**csrf_headers(officer), "accept-language": "en"}
    )
    zh_text = " ".join(p["message"] + (p["hint"] or "") for p in zh.json()["problems"])
    assert "未知字段“agee”" in zh_text and "unknown" not in zh_text and "did you mean" not in zh_text
    assert en.json()["problems"][0]["message"] == "unknown field 'agee' — did you mean 'age'?"
