"""No whole ID number or USCC of the demo data on the admin and finance pages, in their text or their URLs (issue 17):
a portal account's user name is its subject's ID number or USCC, so admin pages mask it and name accounts in form
URLs by row id; finance pages name subjects masked and accounts to verify by row id."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import ON_POSTGRES
from tests.demo_walk import demo_site, login, walk

pytestmark = pytest.mark.skipif(
    ON_POSTGRES,
    reason="runs its own embedded zhida demo on SQLite whatever the pass: the SQLite pass runs it, the PostgreSQL pass would repeat it",
)

STAFF = ("admin", "finance_maker", "finance_checker", "auditor")


def test_admin_and_finance_pages_show_no_whole_id_number_or_uscc(tmp_path):
    with demo_site() as site:
        assert site.database is not None
        with sqlite3.connect(site.database) as db:
            ids = {r[0] for r in db.execute("SELECT subject_id FROM eligibility_talent")}
            ids |= {r[0] for r in db.execute("SELECT subject_id FROM eligibility_enterprise")}
        subjects = {u for u, r in site.accounts.items() if r in ("enterprise", "talent")}
        assert subjects and subjects <= ids and len(ids) > 20  # the demo's portal accounts are named by them
        found, walked = [], 0
        for role in STAFF:
            name = next(u for u, r in site.accounts.items() if r == role)
            client = login(site.base, name)
            starts = {"admin": ["/", "/admin/users", "/admin/users?role=talent", "/admin/users?role=enterprise"]}
            starts.setdefault(role, ["/", "/finance", "/finance/exceptions", "/applications/accounts"])
            for start in starts[role]:
                pages = walk(client, start, limit=25)
                walked += len(pages)
                for url, html in pages.items():
                    found += [(role, url, i) for i in ids if i in html or i in url]
        assert walked > 40
        assert not found, sorted(set(found))[:20]
