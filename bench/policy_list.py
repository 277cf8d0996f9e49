"""A province's policy library (17,000 policies) and the officer's list over it (issue 17, lists that scale).

    PYTHONPATH=$PWD .venv/bin/python bench/policy_list.py [--policies 17000]

Makes a throw-away SQLite database (or ZHIDA_DATABASE_URL's), migrates it, writes the library below the ORM
(``generate_library``, also used by tests/policies/test_list_scale.py) and times GET /policies through the app: the
first page, a search, a late page. Prints one line per figure; not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ISSUERS = ("南昌市科学技术局", "南昌市工业和信息化局", "南昌市人力资源和社会保障局", "江西省财政厅", "赣江新区管委会")
TOPICS = ("研发费用补助", "首次升规奖励", "人才安家补贴", "高新技术企业认定奖励", "稳岗返还", "博士后生活补助")
VERSION_COLUMNS = (
    "policy", "code", "number", "status", "title", "issuer", "subject", "mode", "effective_from", "budget_fen",
    "combine", "once", "top_up", "source", "summary", "content_hash", "author", "created_at", "status_reason",
    "impact_json",
)  # fmt: skip
VERSION_TYPES = (
    "bigint", "text", "bigint", "text", "text", "text", "text", "text", "date", "bigint", "text", "text", "boolean",
    "text", "text", "text", "text", "timestamptz", "text", "text",
)  # fmt: skip


async def generate_library(n: int, prefix: str = "LIB") -> list[str]:
    """``n`` policies ``{prefix}-00001``… each with one draft version, a tenth with a second (in review), written in
    bulk; returns their codes. Drafts: nothing is matched or paid, the list is what is exercised."""
    from kit.db import bulk_insert, raw

    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    codes = [f"{prefix}-{i:05d}" for i in range(1, n + 1)]
    subjects = ["enterprise" if i % 5 < 2 else "talent" for i in range(n)]
    for start in range(0, n, 5000):
        part = range(start, min(n, start + 5000))
        await bulk_insert(
            "policies_policy",
            ("code", "subject", "created_by", "created_at"),
            [(codes[i], subjects[i], "bench", at) for i in part],
            types=("text", "text", "text", "timestamptz"),
        )
    ids = {
        r["code"]: int(r["id"])
        for r in await raw("SELECT id, code FROM policies_policy WHERE code LIKE {}", prefix + "-%")
    }
    rows = []
    for i, code in enumerate(codes):
        title = f"{TOPICS[i % len(TOPICS)]}（第{i + 1}号）"
        base = [ids[code], code, 1, "draft", title, ISSUERS[i % len(ISSUERS)], subjects[i], "auto" if i % 3 else "apply",
                dt.date(2026, 1, 1), 100_000_00 * (1 + i % 50), "first", "lifetime", False, "", "", "x" * 64, "bench",
                at, "", ""]  # fmt: skip
        rows.append(tuple(base))
        if i % 10 == 0:
            second = list(base)
            second[2], second[3] = 2, "in_review"
            rows.append(tuple(second))
    for start in range(0, len(rows), 5000):
        await bulk_insert("policies_version", VERSION_COLUMNS, rows[start : start + 5000], types=VERSION_TYPES)
    return codes


async def remove_library(prefix: str = "LIB") -> None:
    from kit.db import raw

    await raw("DELETE FROM policies_version WHERE code LIKE {}", prefix + "-%")
    await raw("DELETE FROM policies_policy WHERE code LIKE {}", prefix + "-%")


async def time_pages(client, rounds: int = 15) -> dict[str, float]:
    """Median milliseconds of the list's first page, a search and a late page (the app in process, HTML)."""
    urls = {
        "first page": "/policies",
        "search (研发, 2,834 hits)": "/policies?q=%E7%A0%94%E5%8F%91",
        "late page (page 300 of 340)": "/policies?page=300",
        "sorted by budget, descending": "/policies?sort=-budget",
    }
    out = {}
    for label, url in urls.items():
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            r = await client.get(url, headers={"accept": "text/html"})
            times.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, (url, r.status_code)
        out[label] = statistics.median(times)
    return out


async def main(n: int) -> None:
    from app.db import migrate, open_database
    from tests.web import alogin, asgi_client, ensure_user

    await migrate()
    await open_database()
    started = time.perf_counter()
    await generate_library(n)
    print(f"library of {n:,} policies written in {time.perf_counter() - started:.1f} s", flush=True)
    await ensure_user("bench_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "bench_officer")
        for label, ms in (await time_pages(client)).items():
            print(f"GET /policies {label}: {ms:.0f} ms (median of 15)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", type=int, default=17_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zhida-bench-list-"))
    os.environ.setdefault("ZHIDA_DATABASE_URL", f"sqlite:///{tmp / 'bench.db'}")
    os.environ.setdefault("ZHIDA_DATA_DIR", str(tmp / "data"))
    asyncio.run(main(args.policies))
