"""The officers' page of correction requests (GET /applications/corrections): status filter, pager with counts,
the subject masked, the field by its label and old → proposed value in words, the objection linked, dates in
Beijing time, the feed's refusal form (the same service as the API) and the CSV link; the objections' outcomes in
words on the officers' list and the subject's portal (templates/_objection.html)."""

from __future__ import annotations

import re

from app import jobs
from eligibility import corrections
from kit.masking import mask_id_number
from kit.time import now
from policies.applications import objections
from tests.app.test_objection_correction import OFFICER
from tests.app.test_objection_feed_correction import FEED_NAME, _objection_with_request
from tests.web import acsrf, alogin, asgi_client, ensure_user


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-testid="correction-row".*?</tr>', html, re.S)


async def test_officers_list_refuse_and_read_the_outcome_in_words(fresh_db):
    version, sid, key, made, decided = await _objection_with_request()
    # two more requests on the same objection (other fields), so the pager has pages to count
    await corrections.create(
        "talent",
        sid,
        made.id,
        {"graduated_on": ("2019-07-01", "2021-07-01"), "title": (None, "senior")},
        {"graduated_on": FEED_NAME, "title": FEED_NAME},
        actor=OFFICER,
        now=now(),
    )
    await ensure_user(sid, "talent")
    async with asgi_client() as client:
        await alogin(client, "corr_officer")
        home = await client.get("/")
        assert 'href="/applications/corrections?status=pending"' in home.text
        page = await client.get("/applications/corrections")
        assert page.status_code == 200, page.text
        html = page.text
        rows = _rows(html)
        assert len(rows) == 3
        edu = next(r for r in rows if 'data-testid="field" class="nowrap">学历<' in r)
        assert "硕士研究生 → <strong>博士研究生</strong>" in edu  # the choice labels, not master/doctor
        assert mask_id_number(sid) in html and sid not in html  # the subject masked (kit.masking)
        assert f'href="/applications/objections?id={made.id}"' in edu
        assert "北京时间" in edu and "待数据源处理" in edu
        assert 'data-testid="refuse-form"' in edu
        assert 'href="/api/applications/corrections.csv?status=pending"' in html
        assert "数据更正请求" in html.split('data-testid="breadcrumbs"')[1].split("</nav>")[0]
        # the pager counts: one a page
        one = await client.get("/applications/corrections?size=1&sort=id")
        total = re.search(r'data-testid="pager-total">([^<]*)<', one.text).group(1)
        assert total == "共 3 条，第 1/3 页" and len(_rows(one.text)) == 1
        assert 'data-testid="pager-next"' in one.text
        # the CSV the link names
        csv = await client.get("/api/applications/corrections.csv?status=pending")
        assert csv.status_code == 200 and csv.text.count("\n") == 4 and sid in csv.text
        # the objection it links to, its outcome in words
        obj = await client.get(f"/applications/objections?id={made.id}")
        assert obj.status_code == 200 and f'id="o{made.id}"' in obj.text
        assert 'data-outcome="correcting"' in obj.text and "已请数据源更正" in obj.text
        # the feed's refusal through the page's form: the same service as the API
        req_id = int(re.search(r'data-id="(\d+)"', edu).group(1))
        r = await client.post(
            f"/applications/corrections/{req_id}/refuse",
            data={"reason": "学信网核验：该学位证书编号不存在"},
            headers=acsrf(client),
        )
        assert r.status_code in (302, 303), r.text
        done = await client.get(r.headers["location"])
        assert 'data-testid="msg"' in done.text and len(_rows(done.text)) == 2
        refused = await client.get("/applications/corrections?status=rejected")
        [row] = _rows(refused.text)
        assert "数据源不予更正" in row and "该学位证书编号不存在" in row and 'data-testid="refuse-form"' not in row
        again = await client.post(
            f"/applications/corrections/{req_id}/refuse", data={"reason": "再次"}, headers=acsrf(client)
        )
        assert again.status_code == 409
        # in English
        await client.get("/lang/en")
        en = await client.get("/applications/corrections?status=rejected")
        [row] = _rows(en.text)
        assert "master&#39;s degree → <strong>doctorate</strong>" in row and "refused by the data source" in row
        assert "Beijing time" in row
    await jobs.drain()
    refused_o = await objections.get_objection(made.id)
    assert refused_o.outcome == "feed_refused"
    assert "未予更正“学历”" in refused_o.answer and "did not correct the education" in refused_o.answer
    async with asgi_client() as client:  # the subject reads how it ended, in words
        await alogin(client, sid)
        portal = await client.get("/portal")
        assert 'data-outcome="feed_refused"' in portal.text and "数据源不予更正" in portal.text
        # and a subject may not open the officers' page
        denied = await client.get("/applications/corrections")
        assert denied.status_code in (401, 403)


async def test_the_status_filter_is_checked(fresh_db):
    await ensure_user("corr_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "corr_officer")
        empty = await client.get("/applications/corrections")
        assert empty.status_code == 200 and _rows(empty.text) == [] and "共 0 条" in empty.text
        bad = await client.get("/applications/corrections?status=nonsense")
        assert bad.status_code == 400, bad.text
        assert (await client.get("/applications/corrections?sort=nonsense")).status_code == 400
