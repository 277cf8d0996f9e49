"""A demo site for page-walking tests: `zhida demo --no-serve` on a fresh SQLite file (policies published, profiles
matched, batches paid, receipts issued), then `zhida serve` on it; and a bounded walk of the pages each account
reaches from its home by following links."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from tests.web import live_server

DEMO_PASSWORD = "Zhida-demo-2025"
_ACCOUNT = re.compile(r"^\s{2}(\S+)\s+(enterprise|talent|policy_\w+|finance_\w+|auditor|admin|hotline)\b", re.M)
_HREF = re.compile(r'href="([^"#]+)"')
# Not pages: downloads, the language switch, logout, the API.
_SKIP = re.compile(r"^/(api/|lang/|logout|static/|schema|healthz|readyz|metrics)|\.pdf$|\.zip$|\.csv$|\.xlsx$")


@dataclass
class DemoSite:
    base: str
    accounts: dict[str, str] = field(default_factory=dict)  # username -> role
    database: Path | None = None  # the demo's SQLite file (for tests that read what the demo stored)


@contextlib.contextmanager
def demo_site(profiles: int = 60) -> Iterator[DemoSite]:
    with tempfile.TemporaryDirectory(prefix="zhida-demo-walk-") as tmp:
        env = {
            **os.environ,
            "ZHIDA_DATABASE_URL": f"sqlite:///{Path(tmp) / 'zhida.db'}",
            "ZHIDA_DATA_DIR": str(Path(tmp) / "data"),
        }
        env.pop("ZHIDA_REDIS_URL", None)
        exe = Path(sys.executable).parent / "zhida"
        run = subprocess.run(
            [str(exe), "demo", "--profiles", str(profiles), "--no-serve"],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        accounts = dict(_ACCOUNT.findall(run.stdout.split("Demo accounts", 1)[1]))
        with live_server(extra_env={k: env[k] for k in ("ZHIDA_DATABASE_URL", "ZHIDA_DATA_DIR")}) as base:
            yield DemoSite(base=base, accounts=accounts, database=Path(tmp) / "zhida.db")


def login(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD, "next": "/"},
        headers={"x-csrftoken": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert r.status_code == 302, f"login as {username}: {r.status_code}"
    return client


def walk(client: httpx.Client, start: str = "/", limit: int = 60, per_prefix: int = 4) -> dict[str, str]:
    """The HTML of the pages reached from ``start`` by links on the same site, breadth first: at most ``limit``
    pages and ``per_prefix`` pages sharing a path shape (/portal/inbox/12 and /portal/inbox/13 are one shape)."""
    seen: dict[str, str] = {}
    shapes: dict[str, int] = {}
    queue = [start]
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        shape = re.sub(r"\d+", "N", urlsplit(url).path)
        if shapes.get(shape, 0) >= per_prefix:
            continue
        shapes[shape] = shapes.get(shape, 0) + 1
        r = client.get(url)
        if "text/html" not in r.headers.get("content-type", ""):
            continue
        seen[url] = r.text
        for href in _HREF.findall(r.text):
            target = urlsplit(urljoin(str(r.url), href.replace("&amp;", "&")))
            if target.netloc and target.netloc != urlsplit(client.base_url.__str__()).netloc:
                continue
            path = target.path + (f"?{target.query}" if target.query else "")
            if not _SKIP.search(target.path) and path not in seen:
                queue.append(path)
    return seen
