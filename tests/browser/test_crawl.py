"""Every role follows what its home offers and presses the buttons it is offered, in zh-CN and English, at 1366 px,
768 px (staff) and 390 px (issue 17's acceptance).

One crawl per module, on a database of its own filled by `zhida demo` and tests/browser/crawl_seed.py (work waiting
for every role: batches to approve, applications to review, objections, account corrections, drafts in review, a
locked user). The walk first: each role logs in, switches language with the page's own link, and walks breadth-first
what it is offered (same-origin links, GET forms with their defaults, the POST forms that only compute), at most
ZHIDA_CRAWL_PAGES pages per role, language and width. Then the presses: for each role, PRESS_PER_KIND of each kind of
state-changing button the walk met, each pressed on its page with what the form requires filled in, then again from a
tab left open in the other language (the refusal must come back as a message, not an error page); NOT_PRESSED lists
the two buttons left out and why. Every finding is gathered, then one test per kind of check reports all of its own:
http-status (a 4xx/5xx through a link or button), overflow (portal and verify pages at 390 px), tablet (staff pages
wider than 768 px), reach (a staff page's menu or action off a 390 px screen), english-in-zh, chinese-in-en; and every
kind of button in MUST_PRESS was pressed. Screenshots of every page visited and every press go to ZHIDA_SCREENSHOTS
(default tests/browser/screenshots/, ignored by git), with report.txt listing every finding, page and press.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import _TMP, ON_POSTGRES, PG_ADMIN_DSN, ROOT, zhida
from tests.web import browser_login, chromium, live_server

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
SHOTS = Path(os.environ.get("ZHIDA_SCREENSHOTS") or HERE / "screenshots")
MAX_PAGES = int(os.environ.get("ZHIDA_CRAWL_PAGES", "12"))  # per role, language and width
NAV_TIMEOUT_MS = 90_000  # CI machines are shared: a slow page is slow, not broken (a 5xx still fails)
PER_PATTERN = 2  # /finance/batches/1 and /finance/batches/2, not all of them
DEMO_PASSWORD = "Zhida-demo-2025"  # app/cli/demo.py
STAFF = {
    "policy_officer": "officer",
    "policy_reviewer": "reviewer",
    "finance_maker": "maker",
    "finance_checker": "checker",
    "auditor": "auditor",
    "admin": "admin",
    "hotline": "hotline",
}
WIDTHS = {1366: 900, 768: 1024, 390: 844}  # a desk, a tablet (staff only: the portal is phone-first), a phone
TABLET = 768
LANGS = ("zh", "en")
# POST forms submitted with their defaults: they compute or save what is already there, nothing else (a
# reconciliation run would add a run and an audit entry each time: not followed).
SAFE_POSTS = (
    re.compile(r"^/policies/versions/\d+/(tests|impact)$"),
    re.compile(r"^/portal/preferences$"),
)
# State-changing buttons (POST forms) are pressed after the walk, PRESS_PER_KIND of each kind a role is offered (a kind:
# the action's first and last path segment, /finance/batches/7/approve and /finance/batches/9/approve are one). Not
# pressed, and why:
NOT_PRESSED = (
    re.compile(r"^/logout$"),  # ends the session the presses run in (tests/app cover logging out)
    # builds every receipt PDF of a batch (minutes on a shared 2-core machine); tests/receipts press it
    re.compile(r"^/receipts/batches/\d+/zip$"),
)
PRESS_PER_KIND = 2
PRESS_MAX = 24  # presses per role, each twice (fresh, then from the tab left open)
PRESS_EXTRA_PAGES = 4  # pages per role the walk left for its bound, loaded (not checked) for the buttons they offer
PRESS_TIMEOUT_MS = 60_000
SUBMIT = "button:not([type=button]):not([type=reset]), input[type=submit]"  # not 添加条款 and its kind
PORTAL_ROLES = ("enterprise", "talent")
# The roles in the order they press: subjects first (their objections, corrections and applications are the staff's
# work), finance (the checker before the maker, whose 取消 would take the batches waiting for approval), review before
# the officer (who may suspend or retire what the others pay or publish), admin last
# (it may disable or re-role the others' accounts).
PRESS_ORDER = (
    "enterprise",
    "talent",
    "finance_checker",
    "finance_maker",
    "policy_reviewer",
    "policy_officer",
    "auditor",
    "hotline",
    "admin",
)
# What the presses must have pressed (the crawl's seed, tests/browser/crawl_seed.py, makes the work they act on).
MUST_PRESS = {
    "finance batches": "生成代发批次 (create a batch)",
    "finance approve": "a batch approved",
    "finance reject": "a batch rejected",
    "finance run": "an approved batch run",
    "finance abandon": "a refused payment abandoned",
    "applications approve": "an application approved",
    "applications reject": "an application rejected",
    "applications answer": "an objection answered",
    "applications verify": "a corrected account verified",
    "portal objections": "an objection raised",
    "portal account": "an account corrected",
    "policies submit": "a draft submitted for review",
    "policies publish": "a version published",
    "policies reject": "a version sent back",
    "admin users": "a user created",
    "admin unlock": "a locked user unlocked",
}
# What the crawl types into a form's required fields, as a person would: text in the page's language (it becomes data
# the later pages show), an account number the bank simulator pays, a PDF for an upload.
TYPED = {"zh": "巡检填写的内容", "en": "Typed-by-the-crawl"}
TYPED_ACCOUNT = "6222020200009991"
TYPED_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# The page of each role docs/ui.md shows (zh-CN, the viewport only): saved as SHOTS/docs/<role>-<width>.png.
DOC_PAGES = {
    "policy_officer": "/",
    "policy_reviewer": "/applications",
    "finance_maker": "/finance",
    "finance_checker": "/finance/reconciliation",
    "auditor": "/audit",
    "admin": "/admin/users",
    "hotline": "/hotline",
    "enterprise": "/portal",
    "talent": "/portal",
}
DOC_WIDTHS = {"enterprise": (1366, 390), "talent": (1366, 390)}  # the portal on a phone too; staff on a desk
LIST_KEYS = {"page", "size", "sort"}  # a list's paging and order (app/paging.py)
SKIP_LINKS = (re.compile(r"^/lang/"), re.compile(r"^/logout"))
MOBILE_FIRST = re.compile(r"^/(portal|verify)(/|$)")

# Latin words a Chinese page may show: the brand, the language switch, codes and file kinds.
ZH_ALLOWED = {
    "Zhida",
    "English",
    "USCC",
    "ID",
    "PDF",
    "ZIP",
    "CSV",
    "Excel",
    "xlsx",
    "QR",
    "API",
    "YAML",
    "SHA",
    "SM",
    "JPG",
    "PNG",
    "KiB",
    "MB",
}
EN_ALLOWED = {"政策直达", "中文"}  # the brand and the language switch
LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+*#%:-]*")
# An amount in Chinese capitals (人民币壹拾万元整) is how a receipt states money, in any language: a value, not a label.
AMOUNT_IN_WORDS = re.compile(r"^人民币[零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整]+$")
URL = re.compile(r"https?://\S+")
CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
IDENTIFIER_COLUMNS = re.compile(
    r"(code|group|username|subject_id|_by|actor|maker|checker|email|filename|file_name|issuer)$"
)

# Text of the page a person reads: rendered text nodes, placeholders, button values; not code, rule text or
# what the page marks as data (translate="no").
VISIBLE_TEXT_JS = """() => {
  const skip = 'script,style,code,pre,textarea,[translate=no],[data-data]';
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || el.closest(skip) || !node.textContent.trim()) continue;
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    out.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('[placeholder],input[type=submit][value],button[value]')) {
    if (el.closest(skip) || !el.getClientRects().length) continue;
    out.push(el.getAttribute('placeholder') || '');
  }
  return out.join('\\n');
}"""
OFFERED_JS = """() => {
  const links = [...document.querySelectorAll('a[href]')].filter(a => a.getClientRects().length)
    .map(a => ({kind: 'link', url: a.href, label: a.innerText.trim().slice(0, 40)}));
  // A form folded in a closed <details> (an admin's 编辑) is offered too: a person opens it first.
  const shown = f => f.getClientRects().length || (f.closest('details') && f.closest('details').getClientRects().length);
  const forms = [...document.forms].filter(shown).map(f => {
    const fields = [];
    for (const el of f.elements) {
      if (!el.name || el.disabled || ['submit', 'button', 'file'].includes(el.type)) continue;
      if ((el.type === 'checkbox' || el.type === 'radio') && !el.checked) continue;
      fields.push([el.name, el.value, el.required]);
    }
    const button = f.querySelector('button,[type=submit]');
    return {kind: 'form', url: f.action, action: f.getAttribute('action') || '',
            method: (f.getAttribute('method') || 'get').toLowerCase(), folded: !f.getClientRects().length,
            fields, label: button ? (button.innerText || button.value || '').trim().slice(0, 40) : ''};
  });
  return links.concat(forms);
}"""
# Fill a form's required fields that are still empty (the crawl's text, an account, a date, a user name), open the
# <details> it is folded in; answer which file inputs want a file and what the browser still finds invalid.
FILL_JS = """(form, t) => {
  const details = form.closest('details'); if (details) details.open = true;
  const files = [];
  for (const el of form.elements) {
    if (!el.name || el.disabled || !el.required || el.type === 'hidden') continue;
    if (el.type === 'file') { files.push(el.name); continue; }
    if (el.type === 'checkbox' || el.type === 'radio') { el.checked = true; continue; }
    if (el.value) continue;
    if (el.tagName === 'SELECT') { const o = [...el.options].find(o => o.value); if (o) el.value = o.value; continue; }
    const name = el.name.toLowerCase();
    if (el.type === 'date') el.value = '2025-06-30';
    else if (el.type === 'number') el.value = el.min || '1';
    else if (el.type === 'email') el.value = 'crawl@example.gov.cn';
    else if (el.type === 'url') el.value = 'http://127.0.0.1:9/crawl-hook';  // refused at once: the page must say so
    else if (el.type === 'password') el.value = 'Crawl-pass-2025!';
    else if (name.includes('account') || el.inputMode === 'numeric') el.value = t.account;
    else if (el.inputMode === 'decimal') el.value = '100000';
    else if (name === 'username') el.value = 'crawl' + String(t.n).padStart(3, '0');
    else if (name === 'code') el.value = 'CRAWL-' + t.n;
    else el.value = t.text;
  }
  const invalid = [...form.elements].filter(el => el.type !== 'file' && el.willValidate && !el.checkValidity())
    .map(el => el.name + ': ' + el.validationMessage);
  return {files, invalid: invalid.join('; ')};
}"""
# A 4xx a press may end on: the form's own page again, with what kept it from being done and what was typed (新建政策
# with its clause left empty, at 422), not the error page.
FORM_AGAIN_JS = """action => !!document.querySelector(`main form[action="${action}"]`)
  && !!document.querySelector('main .error, main [role=alert]')"""
# A staff page on a phone: its menu (the header's links and buttons) and its actions (the buttons and button-links of
# the page) are where a finger reaches them: inside the screen's width, or inside a box of their own that scrolls
# sideways (a wide table) that is itself on the screen; not clipped by a box that hides what overflows it.
REACH_JS = """() => {
  const W = document.documentElement.clientWidth, out = [];
  const sel = 'header a, header button, main button, main input[type=submit], main a.button';
  for (const el of document.querySelectorAll(sel)) {
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden' || el.closest('details:not([open])')) continue;
    let r = el.getBoundingClientRect(), box = null, clipped = false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX, ar = a.getBoundingClientRect();
      if ((ox === 'auto' || ox === 'scroll') && a.scrollWidth > a.clientWidth + 1) { box = a; break; }
      if ((ox === 'hidden' || ox === 'clip') && (r.right > ar.right + 1 || r.left < ar.left - 1)) { clipped = true; break; }
    }
    if (box) r = box.getBoundingClientRect();
    if (clipped || r.right > W + 1 || r.left < -1) {
      const label = (el.innerText || el.value || el.getAttribute('aria-label') || el.tagName).trim().slice(0, 30);
      out.push(`${label} (${Math.round(r.left)}–${Math.round(r.right)} px)`);
    }
  }
  return out;
}"""
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@dataclass
class Findings:
    by_kind: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    seen: set = field(default_factory=set)
    pages: int = 0
    visited: list[str] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)
    press_kinds: set[str] = field(default_factory=set)

    def add(self, kind: str, role: str, lang: str, width: int | None, url: str, what: str) -> None:
        key = (kind, role, lang, width, url, what)
        if key in self.seen:
            return
        self.seen.add(key)
        where = f"{role} · {lang} · {width}px" if width else f"{role} · {lang}"
        self.by_kind[kind].append(f"[{where}] {url} — {what}")

    def report(self, kind: str) -> str:
        rows = self.by_kind.get(kind, [])
        return f"{len(rows)} {kind} finding(s) over {self.pages} pages:\n  " + "\n  ".join(rows)


# ---- the demo database the crawl walks ----


def _rows(url: str, sql: str) -> list[tuple]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("sqlite:///", 1)[1]) as conn:
            return list(conn.execute(sql))

    async def fetch():
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _columns(url: str) -> dict[str, list[str]]:
    """Each table's text columns."""
    if url.startswith("sqlite"):
        tables = [r[0] for r in _rows(url, "SELECT name FROM sqlite_master WHERE type='table'")]
        out = {}
        for t in tables:
            out[t] = [
                r[1]
                for r in _rows(url, f'PRAGMA table_info("{t}")')
                if any(k in (r[2] or "").upper() for k in ("CHAR", "TEXT", "JSON"))
            ]
        return out
    out: dict[str, list[str]] = collections.defaultdict(list)
    for t, c in _rows(
        url,
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema='public' "
        "AND data_type IN ('text', 'character varying', 'json', 'jsonb')",
    ):
        out[t].append(c)
    return out


@dataclass
class Data:
    """What the demo stored: Chinese text there is data in an English page, and so are its codes and names."""

    blob: str
    identifiers: set[str]


def _data_of(url: str) -> Data:
    values, identifiers = [], set()
    for table, cols in _columns(url).items():
        if table in ("migration", "app_session") or not cols:
            continue
        quoted = ", ".join(f'CAST("{c}" AS TEXT)' for c in cols)
        for row in _rows(url, f'SELECT {quoted} FROM "{table}" LIMIT 20000'):
            for col, v in zip(cols, row, strict=True):
                if not v:
                    continue
                values.append(v)
                if IDENTIFIER_COLUMNS.search(col):
                    identifiers.update(LATIN_WORD.findall(v))
    return Data(blob="\n".join(values), identifiers=identifiers)


@pytest.fixture(scope="module")
def demo_db():
    """A database of its own (not the suite's), filled by `zhida demo --no-serve`."""
    data_dir = _TMP / f"crawl-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir(parents=True)
    if ON_POSTGRES:
        name = f"zhida_crawl_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE DATABASE "{name}"')
        url = f"{PG_ADMIN_DSN.rpartition('/')[0]}/{name}"
    else:
        url = f"sqlite:///{data_dir / 'crawl.db'}"
    env = {"ZHIDA_DATABASE_URL": url, "ZHIDA_DATA_DIR": str(data_dir)}
    zhida("demo", "--no-serve", "--profiles", "150", env=env, check=True, cwd=data_dir)
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.browser.crawl_seed", str(data_dir)],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert seeded.returncode == 0, seeded.stdout[-2000:] + seeded.stderr[-3000:]
    yield env
    if ON_POSTGRES:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(sql: str) -> None:
    async def run():
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _accounts(url: str) -> dict[str, tuple[str, list[str]]]:
    """Each role's login and any page it reaches from outside its home (a receipt's QR code: the verify page; the
    officer's correction requests)."""
    accounts: dict[str, tuple[str, list[str]]] = {role: (name, []) for role, name in STAFF.items()}
    # The seeded draft not yet submitted (officer2's, so not under the officer's 我的草稿), two levels below the home
    # (政策管理 → the policy): its page is walked directly, so that new home links cannot push its "submit for review"
    # out of the walk's bound again (CI's crawl never pressed "policies submit" once the home gained more cards). The
    # officer's correction requests are reached from their home card 待数据源处理的更正请求.
    for (code,) in _rows(url, "SELECT code FROM policies_version WHERE status = 'draft' ORDER BY code"):
        accounts["policy_officer"][1].append(f"/policies/{code}")
    applied = {r[0] for r in _rows(url, "SELECT subject_id FROM policies_application")}
    paid = dict(_rows(url, "SELECT subject_id, code FROM pay_receipt"))
    for kind in ("enterprise", "talent"):
        names = [r[0] for r in _rows(url, f"SELECT username FROM app_user WHERE role = '{kind}' ORDER BY username")]
        name = next((n for n in names if n in applied), None) or next((n for n in names if n in paid), names[0])
        code = paid.get(name) or next(iter(paid.values()))
        accounts[kind] = (name, [f"/verify/{code}"])
    return accounts


# ---- the crawl ----


def _pattern(path: str, query: str) -> str:
    """/finance/batches/N, /policies/N (a code): pages of one kind, of which the crawl takes PER_PATTERN. A list's
    other page, order or empty search box is the same kind of page (the walk goes on to the pages it links to)."""
    keys = sorted(
        k.split("=")[0]
        for k in query.split("&")
        if "=" in k and k.split("=", 1)[1] and k.split("=")[0] not in LIST_KEYS
    )
    segments = ["N" if re.search(r"\d", s) else s for s in path.split("/")]
    return "/".join(segments) + ("?" + "&".join(keys) if keys else "")


def _button_kind(action: str) -> str:
    """/finance/batches/7/approve → "finance approve"; /admin/users → "admin users"; /portal/objections."""
    segments = [s for s in action.split("/") if s]
    return " ".join(segments[:1] + segments[-1:]) if len(segments) > 1 else "/".join(segments)


def _target(action: str) -> str:
    """What a button acts on: /finance/batches/9 for …/9/approve and …/9/reject; /admin/users for 新建用户."""
    segments = [s for s in action.split("/") if s]
    return "/" + "/".join(segments[:-1] if len(segments) > 2 else segments)


def _choose(offered: list[dict]) -> list[dict]:
    """PRESS_PER_KIND buttons of each kind, each on a target no other chosen button acts on where the offer allows it
    (approve batch 9, reject batch 8), kinds with the fewest targets choosing first; a kind whose every target is
    taken still gets one, pressed after the other (it may be gone by then: the press says so)."""
    by_kind: dict[str, list[dict]] = {}
    for form in offered:
        by_kind.setdefault(_button_kind(urlsplit(form["url"]).path), []).append(form)
    order = sorted(by_kind, key=lambda k: len({_target(urlsplit(f["url"]).path) for f in by_kind[k]}))
    chosen: list[dict] = []
    for round_ in range(PRESS_PER_KIND):
        for kind in order:
            if sum(_button_kind(urlsplit(f["url"]).path) == kind for f in chosen) > round_:
                continue
            claimed = {_target(urlsplit(f["url"]).path) for f in chosen}
            free = [f for f in by_kind[kind] if f not in chosen and _target(urlsplit(f["url"]).path) not in claimed]
            pick = free[:1] or ([f for f in by_kind[kind] if f not in chosen][:1] if round_ == 0 else [])
            chosen.extend(pick)
    return chosen


def _wanted(form: dict, chosen: list[dict]) -> bool:
    """A button met after a press: wanted when its kind has fewer than PRESS_PER_KIND and its target is free."""
    action = urlsplit(form["url"]).path
    kind, target = _button_kind(action), _target(action)
    actions = [urlsplit(f["url"]).path for f in chosen]
    return (
        action not in actions
        and sum(_button_kind(a) == kind for a in actions) < PRESS_PER_KIND
        and target not in {_target(a) for a in actions}
    )


def _slug(url: str) -> str:
    s = urlsplit(url)
    return re.sub(r"[^A-Za-z0-9]+", "_", (s.path + ("_" + s.query if s.query else "")).strip("/"))[:70] or "home"


class Crawl:
    def __init__(self, base: str, data: Data, findings: Findings) -> None:
        self.base, self.data, self.findings = base, data, findings
        self.offers: dict[str, list[dict]] = collections.defaultdict(list)  # role → POST forms the walk was offered
        self.button_pages: dict[str, set[str]] = collections.defaultdict(set)  # role → kinds of page with buttons
        self.more: dict[str, dict[str, list[str]]] = collections.defaultdict(dict)  # role → pages left, by kind
        self.worded: set[tuple[str, str, str]] = set()  # (role, language, page) whose words were checked
        self.typed: list[str] = []  # the forms the crawl filled in: what it typed is data on the pages after
        data.blob += "\n" + TYPED["zh"]
        data.identifiers.update(LATIN_WORD.findall(TYPED["en"]) + ["crawl.pdf"])

    def run(self, browser, role: str, username: str, extra: list[str]) -> None:
        session = None  # one login per role; each language and width is a context of its own with that session
        for lang in LANGS:
            for width, height in WIDTHS.items():
                if width == TABLET and role in PORTAL_ROLES:
                    continue
                context = browser.new_context(
                    viewport={"width": width, "height": height}, locale="zh-CN", storage_state=session
                )
                context.set_default_timeout(NAV_TIMEOUT_MS)
                try:
                    page = context.new_page()
                    if session is None:
                        browser_login(page, self.base, username, DEMO_PASSWORD)
                        session = context.storage_state()
                    else:
                        page.goto(self.base + "/")
                    self._switch(page, role, lang, width)
                    self._walk(page, role, lang, width, extra)
                finally:
                    context.close()

    def _switch(self, page, role: str, lang: str, width: int) -> None:
        """The language link of the page header, as a person would click it."""
        with page.expect_navigation() as nav:
            page.locator(f"a[href='/lang/{lang}']").first.click()
        status = nav.value.status if nav.value else 0
        if status >= 400 or page.evaluate("document.documentElement.lang") != ("en" if lang == "en" else "zh-CN"):
            self.findings.add(
                "http-status", role, lang, width, f"/lang/{lang}", f"language switch answered {status}, on {page.url}"
            )
            page.context.add_cookies([{"name": "lang", "value": lang, "url": self.base}])

    def _walk(self, page, role: str, lang: str, width: int, extra: list[str]) -> None:
        queue: collections.deque = collections.deque([({"kind": "link", "url": self.base + "/"}, "home")])
        queue.extend(({"kind": "link", "url": self.base + p}, "outside link") for p in extra)
        done: set[str] = set()
        per_pattern: collections.Counter = collections.Counter()
        visited = 0
        while queue and visited < MAX_PAGES:
            offer, source = queue.popleft()
            parts = urlsplit(offer["url"])
            if parts.netloc != urlsplit(self.base).netloc or any(p.match(parts.path) for p in SKIP_LINKS):
                continue
            key = offer.get("method", "get") + " " + parts.path + "?" + parts.query
            pattern = offer.get("method", "get") + " " + _pattern(parts.path, parts.query)
            # a list's other page or order: one of each list is enough, the pages it links to are the news
            reordered = any(k.split("=")[0] in LIST_KEYS for k in parts.query.split("&"))
            limit = 1 if reordered else PER_PATTERN
            if reordered and width != 1366 and queue and not offer.get("deferred"):
                queue.append(({**offer, "deferred": True}, source))  # at 390 px the walk goes deeper first
                continue
            if key in done or per_pattern[pattern + (" reordered" if reordered else "")] >= limit:
                if key not in done and not reordered and offer["kind"] == "link":
                    self.more[role].setdefault(pattern, []).append(offer["url"])  # another of a kind: for the presses
                continue
            done.add(key)
            per_pattern[pattern + (" reordered" if reordered else "")] += 1
            where = f"{offer.get('label') or ''} ← {source}".strip()
            if not self._visit(page, role, lang, width, offer, where):
                continue
            visited += 1
            self.findings.pages += 1
            self.findings.visited.append(f"{role} · {lang} · {width}px  {page.url[len(self.base) :]}  ({where})")
            here = page.url
            for found in self._offered(page):
                if found["kind"] == "form" and found["method"] == "post":
                    self._offered_button(role, found, pattern)
                if found.get("folded") or (found["kind"] == "form" and not self._submittable(found)):
                    continue
                queue.append((found, urlsplit(here).path))

    def _offered(self, page) -> list[dict]:
        here = page.url
        offered = page.evaluate(OFFERED_JS)
        for found in offered:
            found["url"] = urljoin(here, found["url"].split("#")[0])
            found["from"] = here
        return offered

    def _offered_button(self, role: str, form: dict, page_pattern: str | None = None) -> None:
        """A state-changing button the walk saw (pressed after the walk, see press); the kind of page it is on."""
        action = urlsplit(form["url"]).path
        if any(p.match(action) for p in SAFE_POSTS) or any(p.match(action) for p in NOT_PRESSED):
            return
        if page_pattern:
            self.button_pages[role].add(page_pattern)
        if not any(urlsplit(o["url"]).path == action for o in self.offers[role]):
            self.offers[role].append(form)

    # ---- the presses: after the walk, every kind of state-changing button each role was offered ----

    def press(self, browser, role: str, username: str) -> None:
        """PRESS_PER_KIND buttons of each kind ``role`` was offered, each on its page as loaded now (the same page,
        loaded before in the other language, stays open in a second tab); then the same button in that stale tab, as
        a person who left a tab open would press it: a refusal comes back to the page as a message in the tab's
        language, never an error page. Buttons met on the pages a press ends on join the queue. Portal roles press on
        a 390 px phone, staff at 1366 px."""
        width = 390 if role in PORTAL_ROLES else 1366
        context = browser.new_context(viewport={"width": width, "height": WIDTHS[width]}, locale="zh-CN")
        context.set_default_timeout(NAV_TIMEOUT_MS)
        try:
            page = context.new_page()
            browser_login(page, self.base, username, DEMO_PASSWORD)
            self._more_buttons(page, role)
            queue = collections.deque(_choose(self.offers[role]))
            chosen = list(queue)
            stale = context.new_page()
            n = 0
            while queue and n < PRESS_MAX:
                form = queue.popleft()
                first, other = LANGS if n % 2 == 0 else LANGS[::-1]
                n += 1
                action = urlsplit(form["url"]).path
                self._lang(context, other)
                stale.goto(form["from"])
                self._lang(context, first)
                page.goto(form["from"])
                kind = _button_kind(action)
                if not self._press(page, role, first, width, form, f"{kind}: pressed"):
                    self.findings.pressed.append(f"{role} · {first}  {action}  no longer offered on {form['from']}")
                    continue
                ended_on_action = urlsplit(page.url).path == action  # a page shown as the POST's answer
                for found in self._offered(page):  # what the page the press ended on offers next
                    if ended_on_action:
                        found["from"] = form["from"]  # its address is the form's: the page it came from has it too
                    if found["kind"] == "form" and found["method"] == "post" and not found.get("folded"):
                        if _wanted(found, chosen) and not any(
                            p.match(urlsplit(found["url"]).path) for p in (*SAFE_POSTS, *NOT_PRESSED)
                        ):
                            chosen.append(found)
                            queue.append(found)
                self._lang(context, other)
                self._press(stale, role, other, width, form, f"{kind}: pressed again in a tab left open")
        finally:
            context.close()

    def _more_buttons(self, page, role: str) -> None:
        """Other pages of the kinds on which the walk met buttons (another batch, another application) that the walk
        left for its bound: their buttons too, so that each kind has targets of its own."""
        visited = {v.split("  ")[1] for v in self.findings.visited if v.startswith(role + " ")}
        extra = [
            url
            for pattern, urls in self.more[role].items()
            if pattern in self.button_pages[role]
            for url in dict.fromkeys(urls)
            if url[len(self.base) :] not in visited
        ]
        for url in extra[:PRESS_EXTRA_PAGES]:
            page.goto(url)
            for found in self._offered(page):
                if found["kind"] == "form" and found["method"] == "post":
                    self._offered_button(role, found)

    def _lang(self, context, lang: str) -> None:
        context.add_cookies([{"name": "lang", "value": lang, "url": self.base}])

    def _press(self, page, role: str, lang: str, width: int, form: dict, what: str) -> bool:
        """Fill what the form requires as a person would, press its button, check the page it ends on. False when the
        page no longer offers the form."""
        action = form["action"]
        locator = page.locator(f'form[action="{action}"]').first
        if not locator.count():
            return False
        problems = locator.evaluate(FILL_JS, {"text": TYPED[lang], "account": TYPED_ACCOUNT, "n": len(self.typed)})
        self.typed.append(action)
        for name in problems.pop("files"):
            locator.locator(f'input[type=file][name="{name}"]').set_input_files(
                files=[{"name": "crawl.pdf", "mimeType": "application/pdf", "buffer": TYPED_PDF}]
            )
        path = urlsplit(form["url"]).path
        where = f"{path} ({what} on {urlsplit(form['from']).path})"
        if problems["invalid"]:
            self.findings.add("http-status", role, lang, width, where, "could not fill: " + problems["invalid"])
            return True
        try:
            with page.expect_navigation(timeout=PRESS_TIMEOUT_MS) as nav:
                locator.locator(SUBMIT).first.click()
            response = nav.value
        except Exception as exc:
            if "Download is starting" in str(exc) or "ERR_ABORTED" in str(exc):
                self.findings.pressed.append(f"{role} · {lang}  {where}  a download")
                return True
            self.findings.add("http-status", role, lang, width, where, f"did not answer: {exc}")
            return True
        status = response.status if response else 0
        ended = urlsplit(page.url)
        self.findings.pressed.append(f"{role} · {lang}  {where}  → {status} {ended.path}")
        self.findings.press_kinds.add(_button_kind(path))
        if status >= 500 or (status >= 400 and not page.evaluate(FORM_AGAIN_JS, action)):
            self.findings.add("http-status", role, lang, width, where, f"{status}, on {ended.path}")
        elif ended.path == "/login":
            self.findings.add("http-status", role, lang, width, where, "sent to the login page")
        if "html" in (response.headers.get("content-type", "") if response else ""):
            self._screenshot(page, role, lang, width, page.url, prefix="press-")
            self._check(page, role, lang, width, where, words=True)
        return True

    def _submittable(self, form: dict) -> bool:
        path = urlsplit(form["url"]).path
        if form["method"] == "post" and not any(p.match(path) for p in SAFE_POSTS):
            return False
        if any(required and not value for _, value, required in form["fields"]):
            return False  # a person must type something first: defaults alone would not submit
        if form["method"] == "get":
            query = "&".join(f"{n}={v}" for n, v, _ in form["fields"])
            form["url"] = form["url"].split("?")[0] + ("?" + query if query else "")
            form["method"] = "get"
            form["kind"] = "link"
        return True

    def _visit(self, page, role: str, lang: str, width: int, offer: dict, where: str) -> bool:
        url = offer["url"]
        path = url[len(self.base) :] or "/"
        try:
            if offer.get("method") == "post":
                response = self._post(page, offer)
            else:
                try:
                    response = page.goto(url, wait_until="load")
                except PlaywrightTimeout:  # once more: the machine, not the page, is usually the slow one
                    response = page.goto(url, wait_until="load")
        except Exception as exc:  # a download (PDF, CSV, ZIP) is not a page: ask for it without the browser
            if "Download is starting" not in str(exc) and "ERR_ABORTED" not in str(exc):
                self.findings.add("http-status", role, lang, width, path, f"did not load ({where}): {exc}")
                return False
            status = page.context.request.get(url, max_redirects=0).status
            if status >= 400:
                self.findings.add("http-status", role, lang, width, path, f"{status} ({where})")
            return False
        status = response.status if response else 0
        if status >= 400:
            self.findings.add("http-status", role, lang, width, path, f"{status} ({where})")
        elif urlsplit(page.url).path == "/login":
            self.findings.add("http-status", role, lang, width, path, f"sent to the login page ({where})")
        if "html" not in (response.headers.get("content-type", "") if response else ""):
            return False
        self._screenshot(page, role, lang, width, page.url)
        self._check(page, role, lang, width, path if offer.get("method") != "post" else path + " (POST)")
        return True

    def _post(self, page, form: dict):
        """Submit the form as its button would (the page's own form, its own CSRF token)."""
        action = urlsplit(form["url"]).path
        if page.url != form["from"]:
            page.goto(form["from"])
        with page.expect_navigation() as nav:
            page.locator(f"form[action='{action}'] [type=submit], form[action='{action}'] button").first.click()
        return nav.value

    def _screenshot(self, page, role: str, lang: str, width: int, url: str, prefix: str = "") -> None:
        folder = SHOTS / role
        folder.mkdir(parents=True, exist_ok=True)
        n = len(list(folder.glob(f"{prefix}{lang}-{width}-*")))
        # A page with a job's progress bar (a run just started) reloads itself when the job is over
        # (static/progress.js): a full-page capture taken across that reload never ends, so wait for the final page.
        if page.locator("[data-progress-url]").count():
            try:
                page.wait_for_selector("[data-progress-url]", state="detached", timeout=PRESS_TIMEOUT_MS)
            except Exception:  # the reload destroyed the context mid-wait, or the job outlasted the wait
                pass
            page.wait_for_load_state("load")
        # JPEG: a full page at 390 px is tall, and PNG encoding would cost the crawl more than the page did
        shot = dict(path=str(folder / f"{prefix}{lang}-{width}-{n:02d}-{_slug(url)}.jpg"), full_page=True, type="jpeg")
        try:
            page.screenshot(**shot, quality=60)
        except Exception:  # a reload under way after all: once more, on the page it ended on
            page.wait_for_load_state("load")
            page.screenshot(**shot, quality=60)
        doc = SHOTS / "docs" / f"{role}-{width}.png"
        if (
            not prefix
            and lang == "zh"
            and urlsplit(url).path == DOC_PAGES.get(role)
            and width in DOC_WIDTHS.get(role, (1366,))
            and not doc.exists()
        ):
            doc.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(doc))

    def _check(self, page, role: str, lang: str, width: int, path: str, words: bool = False) -> None:
        if width == 390 and MOBILE_FIRST.match(urlsplit(page.url).path):
            extra = page.evaluate(OVERFLOW_JS)
            if extra > 1:
                self.findings.add("overflow", role, lang, width, path, f"{extra} px wider than the 390 px screen")
        if width == TABLET:
            extra = page.evaluate(OVERFLOW_JS)
            if extra > 1:
                self.findings.add("tablet", role, lang, width, path, f"{extra} px wider than the 768 px tablet")
        if width == 390 and role not in PORTAL_ROLES:
            cut = page.evaluate(REACH_JS)
            if cut:
                self.findings.add("reach", role, lang, width, path, "off the screen: " + "; ".join(cut[:12]))
        worded = (role, lang, urlsplit(page.url).path + "?" + urlsplit(page.url).query)
        if width != 1366 and not words and worded in self.worded:
            return  # the words do not change with the width
        self.worded.add(worded)
        text = page.evaluate(VISIBLE_TEXT_JS)
        if lang == "zh":
            text = URL.sub(" ", text)  # a link written out (a notice's) is an address, not words
            words = sorted({w for w in LATIN_WORD.findall(text) if self._english(w)})
            if words:
                self.findings.add("english-in-zh", role, lang, None, path, "English: " + ", ".join(words[:25]))
        else:
            runs = sorted(
                {
                    r
                    for r in CJK_RUN.findall(text)
                    if r not in EN_ALLOWED and r not in self.data.blob and not AMOUNT_IN_WORDS.match(r)
                }
            )
            if runs:
                self.findings.add("chinese-in-en", role, lang, None, path, "Chinese: " + ", ".join(runs[:25]))

    def _english(self, word: str) -> bool:
        word = word.strip(".:/-+*#%")
        if len(word) < 2 or re.search(r"\d", word) or "@" in word or "*" in word:
            return False  # amounts, dates, IDs, masked numbers, codes with digits, e-mail addresses, grades (A, B)
        return word not in ZH_ALLOWED and word not in self.data.identifiers


@pytest.fixture(scope="module")
def findings(demo_db) -> Findings:
    import shutil

    from app.config import get_settings

    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    url = demo_db["ZHIDA_DATABASE_URL"]
    data, accounts, found = _data_of(url), _accounts(url), Findings()
    data.blob += "\n" + get_settings().platform_name  # the deployment's own name (configuration), in every footer
    with live_server(demo_db) as base, chromium() as browser:
        crawl = Crawl(base, data, found)
        for role, (username, extra) in accounts.items():
            crawl.run(browser, role, username, extra)
        for role in PRESS_ORDER:  # the walk first, on the seeded demo; then the buttons, which change it
            crawl.press(browser, role, accounts[role][0])
    lines = [f"browser crawl: {found.pages} pages, {len(found.pressed)} button presses, screenshots in {SHOTS}"]
    for kind in KINDS:
        lines.append(found.report(kind))
    lines.append("pages visited:\n  " + "\n  ".join(found.visited))
    lines.append("buttons pressed:\n  " + "\n  ".join(found.pressed))
    (SHOTS / "report.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return found


KINDS = ("http-status", "overflow", "tablet", "reach", "english-in-zh", "chinese-in-en")


def test_no_offered_link_or_button_answers_an_error(findings):
    assert not findings.by_kind.get("http-status"), findings.report("http-status")


def test_the_state_changing_buttons_were_pressed(findings):
    """The seeded work was there and the walk offered its buttons: each kind below was pressed at least once."""
    missing = {kind: what for kind, what in MUST_PRESS.items() if kind not in findings.press_kinds}
    assert not missing, f"never pressed: {missing}\npressed:\n  " + "\n  ".join(findings.pressed)


def test_portal_and_verify_pages_fit_a_390px_phone(findings):
    assert not findings.by_kind.get("overflow"), findings.report("overflow")


def test_staff_pages_fit_a_768px_tablet(findings):
    """The page itself no wider than the tablet: a wide table scrolls inside its own box."""
    assert not findings.by_kind.get("tablet"), findings.report("tablet")


def test_staff_menus_and_actions_are_reachable_on_a_390px_phone(findings):
    assert not findings.by_kind.get("reach"), findings.report("reach")


def test_chinese_pages_show_no_english_words(findings):
    assert not findings.by_kind.get("english-in-zh"), findings.report("english-in-zh")


def test_english_pages_show_no_chinese_words_outside_data(findings):
    assert not findings.by_kind.get("chinese-in-en"), findings.report("chinese-in-en")
