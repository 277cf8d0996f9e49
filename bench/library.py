"""The public policy library (政策库) at a province's size: 17,000 published policies, searched and filtered anonymously.

    PYTHONPATH=$PWD .venv/bin/python bench/library.py [--policies 17000]

Makes a throw-away SQLite database (or ZHIDA_DATABASE_URL's), writes the policies below the ORM
(bench/policy_list.generate_library: titles from six topics, five issuers), publishes them, builds the jieba word index
(policies.service.library.index_missing, as the worker does for versions written below the services) and times
GET /library and GET /api/public/policies through the app. Prints one line per figure; not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

URLS = {
    "GET /library (first page)": "/library",
    "GET /library?q=研发补助": "/library?q=%E7%A0%94%E5%8F%91%E8%A1%A5%E5%8A%A9",
    "GET /api/public/policies?q=研发补助": "/api/public/policies?q=%E7%A0%94%E5%8F%91%E8%A1%A5%E5%8A%A9",
    "GET /api/public/policies?q=人才安家&subject=talent": "/api/public/policies?q=%E4%BA%BA%E6%89%8D%E5%AE%89%E5%AE%B6&subject=talent",
    "GET /api/public/policies?issuer=江西省财政厅&page=50": "/api/public/policies?issuer=%E6%B1%9F%E8%A5%BF%E7%9C%81%E8%B4%A2%E6%94%BF%E5%8E%85&page=50",
}  # fmt: skip


async def main(n: int, rounds: int) -> None:
    from app.db import migrate, open_database
    from bench.policy_list import generate_library
    from kit.db import raw
    from policies.service import library
    from tests.web import asgi_client

    await migrate()
    await open_database()
    started = time.perf_counter()
    await generate_library(n, "PUB")
    await raw("UPDATE policies_version SET status = 'published' WHERE code LIKE 'PUB-%' AND number = 1")
    await raw("UPDATE policies_version SET status = 'draft' WHERE code LIKE 'PUB-%' AND number = 2")
    print(f"{n:,} published policies written in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    indexed = 0
    while True:
        done = await library.index_missing(limit=2000)
        if not done:
            break
        indexed += done
    tokens = (await raw("SELECT COUNT(*) AS n FROM policies_search_token"))[0]["n"]
    print(f"word index: {indexed:,} versions, {tokens:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
    async with asgi_client() as client:
        for label, url in URLS.items():
            times, total = [], ""
            for _ in range(rounds):
                t = time.perf_counter()
                r = await client.get(url, headers={"accept": "text/html"} if url.startswith("/library") else {})
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (url, r.status_code, r.text[:300])
                total = r.headers.get("x-total-count", "")
            hits = f", {int(total):,} hits" if total else ""
            print(f"{label}: {statistics.median(times):.0f} ms median, {max(times):.0f} ms max of {rounds}{hits}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--policies", type=int, default=17_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zhida-bench-library-"))
    os.environ.setdefault("ZHIDA_DATABASE_URL", f"sqlite:///{tmp / 'bench.db'}")
    os.environ.setdefault("ZHIDA_DATA_DIR", str(tmp / "data"))
    try:
        asyncio.run(main(args.policies, args.rounds))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
