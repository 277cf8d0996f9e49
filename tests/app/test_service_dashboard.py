"""服务看板 (/oversight/service) through HTTP: a planted world of notices (inbox, email, SMS, webhook in every state,
on three Beijing days, one written late at night UTC), applications (open and decided, with chosen durations) and
objections (overdue, due soon, later, answered) under two policies of two issuers in three districts. Every figure on
the page, in its chart data and in its CSV / Excel downloads equals what this test counts on its own — the notice's
policy parsed from its key in Python, the date range as UTC bounds, the bands as planted — with and without each
filter; only auditors, policy officers and reviewers, and admins may open it."""

from __future__ import annotations

import csv
import datetime as dt
import html as htmlmod
import io
import json
import math
import re
from collections import Counter

import openpyxl

from eligibility.tables import EnterpriseProfile, TalentProfile
from kit import workdays
from kit.db import raw
from kit.time import now
from notifications.tables import Delivery, Notice
from policies.applications.tables import Application, Objection
from policies.tables import PolicyVersion
from tests.payments import risk_data as d
from tests.web import alogin, asgi_client, ensure_user

UTC = dt.UTC
REGION = {1: "360102", 2: "360103", 3: "360103", 4: "360111"}  # talent i → district
# Beijing 2026-11-28 10:00, 11-29 10:00, 11-30 01:00 (= 11-29 17:00 UTC: the day is Beijing's, not UTC's)
DAYS = [dt.datetime(2026, 11, 28, 2, 0, tzinfo=UTC), dt.datetime(2026, 11, 29, 2, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 29, 17, 0, tzinfo=UTC)]  # fmt: skip
ISSUER_A, ISSUER_B, ISSUER_OLD = "南昌市人力资源和社会保障局", "南昌市科学技术局", "原南昌市人事局"
# (delivery statuses of email, sms, webhook; None: no delivery on that channel) per notice
DELIVERIES = [
    ("sent", "deferred", None),
    ("failed", "sent", "failed"),
    ("sent", "queued", "skipped"),
    (None, "deferred", "sent"),
    ("sent", "failed", None),
    ("retrying", "sent", "sent"),
    ("skipped", None, "failed"),
    ("sent", "sent", None),
]
APP_DAYS = (0.5, 1.25, 3.0, 7.5, 12.0)  # decided applications: submitted → decided, calendar days
OBJ_DAYS = (2.0, 4.5, 14.0)  # answered objections
FINAL = ("sent", "failed", "skipped")


async def _version(code: str, number: int, issuer: str, mode: str = "apply") -> int:
    row = await PolicyVersion.insert(
        PolicyVersion(
            code=code, number=number, status="published" if number else "draft", title=f"{code} 标题", issuer=issuer,
            subject="talent", mode=mode, effective_from=dt.date(2025, 1, 1), content_hash=f"h{code}{number}",
            author="o", created_at=DAYS[0],
        )
    )  # fmt: skip
    return int(row[0]["id"])


async def plant() -> dict:
    """The world; returns its keys: policy codes, version ids, subjects."""
    subjects = {}
    for i, region in REGION.items():
        sid = await d.talent(i)
        await raw("UPDATE eligibility_talent SET region_code = {} WHERE subject_id = {}", region, sid)
        subjects[i] = sid
    ent = await d.enterprise(1)
    await raw("UPDATE eligibility_enterprise SET region_code = '360106' WHERE subject_id = {}", ent)
    a1 = await _version("SVC-A", 1, ISSUER_OLD)
    a2 = await _version("SVC-A", 2, ISSUER_A)  # the latest version names the issuer
    b1 = await _version("SVC-B", 1, ISSUER_B, mode="auto")
    at = now()
    # applications under SVC-A: two open (submitted, first approved), five decided with the chosen durations
    apps = []
    for n, status in enumerate(
        ("submitted", "first_approved", "approved", "rejected", "approved", "approved", "rejected")
    ):
        sid = subjects[1 + n % 4]
        made = DAYS[n % 3] - dt.timedelta(days=APP_DAYS[n - 2]) if n >= 2 else DAYS[n % 3]
        decided = made + dt.timedelta(days=APP_DAYS[n - 2]) if n >= 2 else None
        row = await Application.insert(
            Application(
                application_no=f"SVC-{n}", version_id=a2, policy_code="SVC-A", policy_title="SVC-A 标题",
                subject_kind="talent", subject_id=sid, applicant=sid, amount_fen=10_000, status=status,
                decided_by="o" if decided else None, decided_at=decided, created_at=made, updated_at=made,
            )
        )  # fmt: skip
        apps.append(int(row[0]["id"]))
    # objections: SVC-A two overdue, one due soon, one later; SVC-B one due soon, one later; three answered
    due = {
        "overdue": at - dt.timedelta(days=2),
        "overdue2": at - dt.timedelta(minutes=5),
        "soon": workdays.deadline(at, 1),
        "later": workdays.deadline(at, 10),
    }
    objs = []
    plan = [("SVC-A", "overdue", 1), ("SVC-A", "overdue2", 2), ("SVC-A", "soon", 3), ("SVC-A", "later", 4),
            ("SVC-B", "soon", 2), ("SVC-B", "later", 1)]  # fmt: skip
    for n, (code, band, who) in enumerate(plan):
        row = await Objection.insert(
            Objection(
                subject_kind="talent", subject_id=subjects[who], target="policy", target_id=b1, policy_code=code,
                policy_title=f"{code} 标题", text="异议", status="open", due_at=due[band], created_at=DAYS[n % 3],
            )
        )  # fmt: skip
        objs.append(int(row[0]["id"]))
    for n, took in enumerate(OBJ_DAYS):
        answered = DAYS[n % 3]
        row = await Objection.insert(
            Objection(
                subject_kind="talent", subject_id=subjects[1 + n], target="policy", target_id=b1,
                policy_code="SVC-B" if n else "SVC-A", policy_title="t", text="异议", status="answered", answer="已答复",
                answered_by="o", answered_at=answered, due_at=answered + dt.timedelta(days=20),
                created_at=answered - dt.timedelta(days=took),
            )
        )  # fmt: skip
        objs.append(int(row[0]["id"]))
    # notices: what each is about names its policy through its key
    keys = [
        f"matched:{a1}:{subjects[1]}", f"matched:{b1}:{subjects[2]}", f"reading:{b1}:{subjects[3]}",
        f"application:{apps[0]}:received", f"application:{apps[2]}:approved", f"objection:{objs[4]}:answered",
        f"objection:{objs[0]}:answered", "contact:unrelated:1",
    ]  # fmt: skip
    for n, key in enumerate(keys):
        kind, sid = ("enterprise", ent) if n == 7 else ("talent", subjects[1 + n % 4])
        made = DAYS[n % 3]
        row = await Notice.insert(
            Notice(
                key=key, recipient_key=f"{kind}:{sid}", recipient_kind=kind, subject_id=sid, kind="matched_auto",
                locale="zh-CN", title="t", body="b", context="{}", created_at=made,
                read_at=made + dt.timedelta(hours=1) if n % 3 != 1 else None,
            )
        )  # fmt: skip
        nid = int(row[0]["id"])
        # a delivery not final waits for a time to come (quiet hours' end, a retry): a server's worker leaves it be
        waits = at + dt.timedelta(days=1)
        for channel, status in zip(("email", "sms", "webhook"), DELIVERIES[n], strict=True):
            if status:
                await Delivery.insert(
                    Delivery(
                        notice=nid, recipient_key=f"{kind}:{sid}", channel=channel, status=status,
                        due_at=made if status in FINAL else waits, updated_at=made,
                        sent_at=made if status == "sent" else None,
                    )
                )  # fmt: skip
    return {"versions": {"a1": a1, "a2": a2, "b1": b1}, "subjects": subjects, "enterprise": ent}


# ---- the same figures, counted here on their own -----------------------------------------------------------------


def _bounds(date_from: str, date_to: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants of the Beijing days' range (no day conversion in SQL)."""
    lo = dt.datetime.fromisoformat(date_from or "2000-01-01").replace(tzinfo=UTC) - dt.timedelta(hours=8)
    hi = dt.datetime.fromisoformat(date_to or "2100-01-01").replace(tzinfo=UTC) + dt.timedelta(hours=16)
    return lo, hi


def _at(v) -> dt.datetime:
    v = dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    return v if v.tzinfo else v.replace(tzinfo=UTC)


async def _regions() -> dict[str, str]:
    out = {r["subject_id"]: r["region_code"] for r in await TalentProfile.select()}
    out.update({r["subject_id"]: r["region_code"] for r in await EnterpriseProfile.select()})
    return out


async def _codes(issuer: str) -> set[str]:
    """The codes whose highest-numbered version names ``issuer``."""
    latest: dict[str, tuple[int, str]] = {}
    for v in await PolicyVersion.select(PolicyVersion.code, PolicyVersion.number, PolicyVersion.issuer):
        if v["code"] not in latest or v["number"] > latest[v["code"]][0]:
            latest[v["code"]] = (v["number"], v["issuer"])
    return {c for c, (_, i) in latest.items() if i == issuer}


async def _notice_policy() -> dict[int, str | None]:
    versions = {int(r["id"]): r["code"] for r in await raw("SELECT id, code FROM policies_version")}
    apps = {int(r["id"]): r["policy_code"] for r in await raw("SELECT id, policy_code FROM policies_application")}
    objs = {int(r["id"]): r["policy_code"] for r in await raw("SELECT id, policy_code FROM policies_objection")}
    table = {"matched": versions, "reading": versions, "application": apps, "objection": objs}
    out = {}
    for r in await raw("SELECT id, key FROM notifications_notice"):
        head, _, rest = r["key"].partition(":")
        ident = rest.split(":")[0]
        out[int(r["id"])] = table[head].get(int(ident)) if head in table and ident.isdigit() else None
    return out


async def expected(
    policy: str = "", date_from: str = "", date_to: str = "", region: str = "", issuer: str = ""
) -> dict:
    lo, hi = _bounds(date_from, date_to)
    regions = await _regions()
    codes = await _codes(issuer) if issuer else None

    def keep(code: str | None, subject: str) -> bool:
        if policy and code != policy:
            return False
        if codes is not None and code not in codes:
            return False
        return not region or regions.get(subject, "") == region

    of = await _notice_policy()
    kept = {
        int(r["id"]): r
        for r in await raw(
            "SELECT id, subject_id, created_at, read_at FROM notifications_notice WHERE created_at >= {} AND created_at < {}",
            lo,
            hi,
        )
        if keep(of[int(r["id"])], r["subject_id"])
    }
    state = {"queued": "in_progress", "sending": "in_progress", "retrying": "in_progress"}
    channels = {"inbox": Counter(sent=len(kept), read=sum(1 for r in kept.values() if r["read_at"] is not None))}
    for ch in ("email", "sms", "webhook"):
        channels[ch] = Counter()
    day_of = {i: (_at(r["created_at"]) + dt.timedelta(hours=8)).date().isoformat() for i, r in kept.items()}
    trend: dict[str, Counter] = {}
    for i in kept:
        trend.setdefault(day_of[i], Counter())["inbox"] += 1
    for r in await raw("SELECT notice, channel, status FROM notifications_delivery"):
        if int(r["notice"]) not in kept:
            continue
        channels[r["channel"]][state.get(r["status"], r["status"])] += 1
        if r["status"] in ("sent", "failed"):
            trend[day_of[int(r["notice"])]][r["status"]] += 1
    at = now()
    soon = workdays.deadline(at, 3)
    apps = await raw("SELECT * FROM policies_application")
    open_apps = [
        a
        for a in apps
        if a["status"] in ("submitted", "first_approved")
        and lo <= _at(a["created_at"]) < hi
        and keep(a["policy_code"], a["subject_id"])
    ]
    app_days = [
        (_at(a["decided_at"]) - _at(a["created_at"])).total_seconds() / 86400
        for a in apps
        if a["decided_at"] is not None and lo <= _at(a["decided_at"]) < hi and keep(a["policy_code"], a["subject_id"])
    ]
    objs = await raw("SELECT * FROM policies_objection")
    open_objs = [
        o
        for o in objs
        if o["status"] == "open" and lo <= _at(o["created_at"]) < hi and keep(o["policy_code"], o["subject_id"])
    ]
    bands = Counter(
        "overdue" if _at(o["due_at"]) < at else ("due_soon" if _at(o["due_at"]) <= soon else "later") for o in open_objs
    )
    obj_days = [
        (_at(o["answered_at"]) - _at(o["created_at"])).total_seconds() / 86400
        for o in objs
        if o["status"] == "answered" and lo <= _at(o["answered_at"]) < hi and keep(o["policy_code"], o["subject_id"])
    ]
    return {
        "channels": channels,
        "trend": trend,
        "applications": len(open_apps),
        "objections": {b: bands.get(b, 0) for b in ("overdue", "due_soon", "later")},
        "app_days": app_days,
        "obj_days": obj_days,
    }


def _rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(1, math.ceil(p * len(s) / 100)) - 1]


def _rows(html: str, name: str, attr: str = "data-n") -> dict[str, list[str]]:
    body = re.search(rf'data-testid="t-{name}">(.*?)</table>', html, re.S).group(1)
    return {
        htmlmod.unescape(k): re.findall(rf'{attr}="([^"]*)"', row)
        for k, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S)
    }


def _num(v: str) -> int | None:
    return None if v == "na" else int(v)


def check(html: str, exp: dict) -> None:
    shown = _rows(html, "channels")
    states = ("sent", "failed", "deferred", "in_progress", "skipped", "read")
    inbox = exp["channels"]["inbox"]
    assert [_num(v) for v in shown["inbox"]] == [inbox["sent"], None, None, None, None, inbox["read"]]
    for ch in ("email", "sms", "webhook"):
        assert [_num(v) for v in shown[ch]] == [exp["channels"][ch].get(s, 0) for s in states[:5]] + [None], ch
    deadlines = _rows(html, "deadlines")
    assert [_num(v) for v in deadlines["application"]] == [exp["applications"], None, None, None, exp["applications"]]
    ob = exp["objections"]
    assert [_num(v) for v in deadlines["objection"]] == [
        sum(ob.values()),
        ob["overdue"],
        ob["due_soon"],
        ob["later"],
        0,
    ]
    proc = _rows(html, "processing", "data-[nd]")
    for key, days in (("application", exp["app_days"]), ("objection", exp["obj_days"])):
        n, p50, p95 = proc[key]
        assert int(n) == len(days), key
        for got, p in ((p50, 50), (p95, 95)):
            want = _rank(days, p)
            assert (got == "") if want is None else math.isclose(float(got), want, abs_tol=1e-9), (key, p, got, want)
    trend = _rows(html, "trend")
    assert {k: [int(x) for x in v] for k, v in trend.items()} == {
        k: [c["inbox"], c["sent"], c["failed"]] for k, c in exp["trend"].items()
    }
    charts = json.loads(htmlmod.unescape(re.search(r'id="dash-data">(.*?)</script>', html, re.S).group(1)))
    assert charts["trend"]["labels"] == sorted(exp["trend"])
    assert charts["trend"]["failed"] == [exp["trend"][k]["failed"] for k in sorted(exp["trend"])]
    series = {s["key"]: s["data"] for s in charts["channels"]["series"]}
    assert (
        series["unread"][0] + series["read"][0] == inbox["sent"] and series["sent"][0] == 0
    )  # a bar = what it carries
    assert series["failed"] == [0] + [exp["channels"][ch].get("failed", 0) for ch in ("email", "sms", "webhook")]
    assert {s["key"]: s["data"] for s in charts["deadlines"]["series"]}["overdue"] == [0, ob["overdue"]]


async def test_the_service_dashboard_shows_what_independent_counts_give(fresh_db):
    world = await plant()
    exp = await expected()
    # the world is what the test means: every delivery state, three days, bands as planted, durations as chosen
    assert {s for c in ("email", "sms", "webhook") for s in exp["channels"][c]} == {
        "sent", "failed", "deferred", "in_progress", "skipped"
    }  # fmt: skip
    assert len(exp["trend"]) == 3 and "2026-11-30" in exp["trend"]  # 17:00 UTC on the 29th is the 30th in Beijing
    assert exp["objections"] == {"overdue": 2, "due_soon": 2, "later": 2} and exp["applications"] == 2
    assert sorted(round(x, 6) for x in exp["app_days"]) == sorted(APP_DAYS)
    assert sorted(round(x, 6) for x in exp["obj_days"]) == sorted(OBJ_DAYS)
    for name, role in (("svc_auditor", "auditor"), ("svc_officer", "policy_officer"), ("svc_reviewer", "policy_reviewer"),
                       ("svc_admin", "admin"), ("svc_maker", "finance_maker"), ("svc_checker", "finance_checker"),
                       ("91360100000000001Q", "enterprise")):  # fmt: skip
        await ensure_user(name, role)
    for who in ("svc_maker", "svc_checker", "91360100000000001Q"):
        async with asgi_client() as client:
            await alogin(client, who)
            for url in ("/oversight/service", "/oversight/service/export?table=channels&format=csv"):
                assert (await client.get(url)).status_code == 403, (who, url)
    for who in ("svc_auditor", "svc_reviewer", "svc_admin"):
        async with asgi_client() as client:
            await alogin(client, who)
            html = (await client.get("/oversight/service")).text
            assert 'data-testid="t-channels"' in html, who
            # no link this role may not follow: the review queues are the officers' and reviewers'
            assert ('href="/applications/objections"' in html) == (who == "svc_reviewer"), who
            nav = re.findall(r'href="([^"]+)"', re.search(r'class="dash-nav"[^>]*>(.*?)</nav>', html, re.S).group(1))
            assert "/oversight/service" in nav and ("/oversight/cockpit" in nav) == (who != "svc_reviewer"), who
    async with asgi_client() as client:
        await alogin(client, "svc_officer")
        r = await client.get("/oversight/service")
        assert r.status_code == 200
        check(r.text, exp)
        assert "/static/vendor/echarts/echarts.min.js" in r.text and "/static/service.js" in r.text
        assert 'href="/applications"' in r.text and 'href="/applications/objections"' in r.text
        # the shared nav offers only what this role may open; the home page links the dashboard; breadcrumbs
        nav = re.search(r'class="dash-nav"[^>]*>(.*?)</nav>', r.text, re.S).group(1)
        assert re.findall(r'href="([^"]+)"', nav) == ["/oversight/service"]
        trail = re.search(r'data-testid="breadcrumbs">(.*?)</nav>', r.text, re.S).group(1)
        assert [t.strip() for t in re.findall(r">([^<>]+)<", trail) if t.strip()] == ["首页", "服务看板"]
        assert 'href="/oversight/service"' in (await client.get("/")).text
        for params in (
            {"policy": "SVC-A"},
            {"policy": "SVC-B"},
            {"region": "360103"},
            {"region": "360106"},
            {"issuer": ISSUER_A},
            {"issuer": ISSUER_OLD},  # named only by an earlier version: nothing
            {"date_from": "2026-11-29", "date_to": "2026-11-29"},
            {"date_from": "2026-11-30", "policy": "SVC-B", "region": "360103"},
        ):
            html = (await client.get("/oversight/service", params=params)).text
            want = await expected(**params)
            check(html, want)
            # each filter narrows: fewer notices than unfiltered
            assert want["channels"]["inbox"]["sent"] < exp["channels"]["inbox"]["sent"], params
        assert (await expected(issuer=ISSUER_OLD))["channels"]["inbox"]["sent"] == 0
        # downloads: CSV of the channels, Excel of the deadlines and of the processing times, with the filters
        x = await client.get("/oversight/service/export", params={"table": "channels", "format": "csv"})
        rows = list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))
        assert rows[0][0] == "渠道" and len(rows) == 5
        assert rows[1][1:] == [
            str(exp["channels"]["inbox"]["sent"]),
            "—",
            "—",
            "—",
            "—",
            str(exp["channels"]["inbox"]["read"]),
        ]
        assert [int(v) for v in rows[3][1:6]] == [
            exp["channels"]["sms"].get(s, 0) for s in ("sent", "failed", "deferred", "in_progress", "skipped")
        ]
        x = await client.get(
            "/oversight/service/export", params={"table": "deadlines", "format": "xlsx", "policy": "SVC-B"}
        )
        ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
        got = list(ws.iter_rows(min_row=2, values_only=True))
        want = (await expected(policy="SVC-B"))["objections"]
        assert got[0][1:] == (0, "—", "—", "—", 0)
        assert got[1][1:] == (sum(want.values()), want["overdue"], want["due_soon"], want["later"], 0)
        x = await client.get("/oversight/service/export", params={"table": "processing", "format": "xlsx"})
        ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
        got = {r[0]: r[1:] for r in ws.iter_rows(min_row=2, values_only=True)}
        assert got["申请"] == (5, round(_rank(exp["app_days"], 50), 2), round(_rank(exp["app_days"], 95), 2))
        x = await client.get("/oversight/service/export", params={"table": "trend", "format": "csv"})
        rows = list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))
        assert {r[0]: [int(v) for v in r[1:]] for r in rows[1:]} == {
            k: [c["inbox"], c["sent"], c["failed"]] for k, c in exp["trend"].items()
        }
        assert (await client.get("/oversight/service/export?table=nope")).status_code == 400
        client.cookies.set("lang", "en")
        html = (await client.get("/oversight/service")).text
        # English labels, no Chinese (no data is shown in these tables)
        for name in ("channels", "deadlines", "processing", "trend"):
            table = re.search(rf'data-testid="t-{name}">(.*?)</table>', html, re.S).group(1)
            assert not re.search(r"[\u4e00-\u9fff]", table), (name, table)
        x = await client.get("/oversight/service/export", params={"table": "channels", "format": "csv"})
        assert list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))[0][:2] == ["Channel", "Sent"]
    assert world["versions"]["a2"] > world["versions"]["a1"]
