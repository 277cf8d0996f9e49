"""Beijing time everywhere: no page of a demo walk, in Chinese or English, shows a UTC offset or microseconds, and
every timestamp is labelled (北京时间 / Beijing time)."""

from __future__ import annotations

import re

import pytest

from kit.vocab import SUBJECT_ROLES, Role
from tests.conftest import ON_POSTGRES
from tests.demo_walk import demo_site, login, walk

pytestmark = pytest.mark.skipif(
    ON_POSTGRES,
    reason="runs its own embedded zhida demo on SQLite whatever the pass: the SQLite pass runs it, the PostgreSQL pass would repeat it",
)

UTC_OFFSET = re.compile(r"\d{2}:\d{2}(:\d{2})?(\.\d+)?\+00:00")
MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3,}")
TIMESTAMP = re.compile(r"(?<![\d-])\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?(?![\d:])(.{0,16})")


@pytest.fixture(scope="module")
def site():
    with demo_site() as s:
        yield s


def _visible(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", page)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_of_a_demo_walk_shows_utc_or_microseconds(site, lang):
    walked, problems = 0, []
    for role in Role:  # every role, from its home
        name = next(u for u, r in site.accounts.items() if r == role)
        client = login(site.base, name)
        client.cookies.set("lang", lang)
        pages = walk(client, "/portal" if role in SUBJECT_ROLES else "/", limit=40)
        walked += len(pages)
        for url, html in pages.items():
            text = _visible(html)
            label = "北京时间" if lang == "zh" else "Beijing time"
            for bad in (UTC_OFFSET, MICROSECONDS):
                problems += [(role, url, m.group(0)) for m in bad.finditer(text)]
            problems += [(role, url, m.group(0)) for m in TIMESTAMP.finditer(text) if label not in m.group(2)]
    assert not problems, sorted(set(problems))[:40]
    assert walked > 40
