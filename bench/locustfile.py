"""Locust users for bench/web_load.py (issue 19): subjects on the portal, the public library and its API, staff on
their lists. Run by web_load.py against a `zhida serve` it started on 127.0.0.1; the accounts come from the demo it
seeded, through ZHIDA_LOAD_PORTAL (comma-separated subject ids; web_load.py makes one per simulated subject, so none is
shared) and ZHIDA_LOAD_PASSWORD; ZHIDA_LOAD_HOSTS (comma-separated base URLs) spreads the users over several
`zhida serve` processes, round robin.

A login that fails is one failure and that user stops: it does not go on to fail every page with 401.

    locust -f bench/locustfile.py --headless -u 64 -r 16 -t 60s --host http://127.0.0.1:PORT
"""

from __future__ import annotations

import itertools
import os
import re

from locust import HttpUser, between, task
from locust.exception import StopUser

PASSWORD = os.environ.get("ZHIDA_LOAD_PASSWORD", "Zhida-demo-2025")
PORTAL = [s for s in os.environ.get("ZHIDA_LOAD_PORTAL", "").split(",") if s]
STAFF = ["officer", "reviewer", "maker", "checker", "auditor"]
_portal = itertools.cycle(PORTAL or ["-"])
_staff = itertools.cycle(STAFF)
_hosts = itertools.cycle([h for h in os.environ.get("ZHIDA_LOAD_HOSTS", "").split(",") if h] or [""])
_POLICY_LINK = re.compile(r'href="/portal/policies/(\d+)"')
_LIBRARY_LINK = re.compile(r'href="/library/([A-Z0-9-]+)"')


def _spread(user: HttpUser) -> None:
    """The next `zhida serve` process for this user (round robin over ZHIDA_LOAD_HOSTS), else locust's --host."""
    host = next(_hosts)
    if host:
        user.client.base_url = host


def _login(user: HttpUser, name: str) -> None:
    user.client.get("/login", name="/login")
    token = user.client.cookies.get("csrftoken", "")
    with user.client.post(
        "/login",
        data={"username": name, "password": PASSWORD, "next": "/"},
        headers={"x-csrftoken": token},
        allow_redirects=False,
        name="/login [POST]",
        catch_response=True,
    ) as r:
        if r.status_code != 302:
            said = re.search(r"(too many[^<.]*|this account is locked[^<.]*|wrong user name[^<.]*)", r.text, re.I)
            r.failure(f"login as {name}: {r.status_code} {said.group(1) if said else r.text[:120]!r}")
            raise StopUser()


class Subject(HttpUser):
    """An enterprise or talent on the portal: home, inbox, a matched policy's explanation, the JSON overview."""

    weight = 3
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        _spread(self)
        _login(self, next(_portal))
        r = self.client.get("/portal", name="/portal")
        self.policies = _POLICY_LINK.findall(r.text) or []

    @task(3)
    def home(self) -> None:
        self.client.get("/portal", name="/portal")

    @task(3)
    def inbox(self) -> None:
        self.client.get("/portal/inbox", name="/portal/inbox")

    @task(2)
    def policy(self) -> None:
        if self.policies:
            self.client.get(f"/portal/policies/{self.policies[0]}", name="/portal/policies/{id}")

    @task(1)
    def overview(self) -> None:
        self.client.get("/api/portal/overview", name="/api/portal/overview")


class Public(HttpUser):
    """Anyone: the policy library page, one policy, and the public JSON API."""

    weight = 2
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        _spread(self)
        r = self.client.get("/library", name="/library")
        self.codes = _LIBRARY_LINK.findall(r.text) or []

    @task(3)
    def api_list(self) -> None:
        self.client.get("/api/public/policies", name="/api/public/policies")

    @task(2)
    def api_one(self) -> None:
        if self.codes:
            self.client.get(f"/api/public/policies/{self.codes[0]}", name="/api/public/policies/{code}")

    @task(2)
    def library(self) -> None:
        self.client.get("/library", name="/library")


class Staff(HttpUser):
    """Staff on their lists: policies, applications, finance batches, the audit trail (as far as the role may)."""

    weight = 1
    wait_time = between(0.1, 0.3)

    def on_start(self) -> None:
        _spread(self)
        self.name = next(_staff)
        _login(self, self.name)
        self.pages = {
            "officer": ["/policies", "/applications"],
            "reviewer": ["/policies", "/applications"],
            "maker": ["/finance", "/finance/exceptions"],
            "checker": ["/finance", "/finance/reconciliation"],
            "auditor": ["/audit", "/oversight"],
        }[self.name]
        self.i = 0

    @task
    def page(self) -> None:
        path = self.pages[self.i % len(self.pages)]
        self.i += 1
        self.client.get(path, name=path)
