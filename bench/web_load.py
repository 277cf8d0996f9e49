"""The web tier under load (issue 19): seeds a demo (`zhida demo --profiles N --no-serve`) in a throw-away data dir,
starts `zhida serve` on 127.0.0.1 against it, and drives it with locust headless (bench/locustfile.py: portal
pages of the demo's subject accounts, the public library and its API, staff lists) for --seconds with --users
concurrent users. Prints the machine, its load, and per request name and in total: requests, failures, req/s,
p50/p95/p99 in ms. Only 127.0.0.1; nothing is left running.

    PYTHONPATH=$PWD nice .venv/bin/python bench/web_load.py --profiles 10000 --users 64 --seconds 60 --db sqlite
    ZHIDA_BENCH_PG_DSN=postgresql://zhida@127.0.0.1:55432/postgres PYTHONPATH=$PWD nice .venv/bin/python \\
        bench/web_load.py --db postgres

Needs locust (the bench extra: pip install -e '.[bench]'). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pgdb

ROOT = Path(__file__).resolve().parent.parent
ZHIDA = [sys.executable, "-c", "from app.cli import main; main()"]
ACCOUNT = re.compile(r"^\s+(\S+)\s+(enterprise|talent) \(matched: ", re.M)


def log(msg: str) -> None:
    print(msg, flush=True)


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores {cpu}, {mem:.1f} GiB, Python {platform.python_version()}"


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (/proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(0.3)
    raise SystemExit(f"zhida serve did not answer on {url}/healthz")


ACCOUNTS = """
import asyncio, sys
from app.auth.service import create_user, get_user
from app.cli.common import run
from app.cli.demo import DEMO_PASSWORD
from eligibility import service as eligibility
from policies import service as policies

async def accounts(n):
    made = []
    for v in await policies.list_published():
        for m in await eligibility.matches_for(v.id):
            if len(made) >= n:
                return made
            if any(m.subject_id == a for a in made):
                continue
            if await get_user(m.subject_id) is None:
                await create_user(m.subject_id, m.subject_kind, DEMO_PASSWORD, display_name=m.name or m.subject_id)
            made.append(m.subject_id)
    return made

print(",".join(run(accounts, int(sys.argv[1]))))
"""


def portal_accounts(n: int, env: dict[str, str]) -> list[str]:
    """``n`` portal accounts (matched subjects of the published policies, the demo password), so that no two simulated
    subjects share one: concurrent logins to one name from one address are counted before their passwords are checked
    (app/auth/throttle.py), and more than ``login_max_failures`` at once are refused with 429 by design."""
    out = subprocess.run(
        [sys.executable, "-c", ACCOUNTS, str(n)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0:
        raise SystemExit(f"portal accounts failed:\n{out.stderr[-2000:]}")
    return [a for a in out.stdout.strip().splitlines()[-1].split(",") if a]


def run(args, env: dict[str, str], work: Path) -> None:
    t0 = time.perf_counter()
    demo = subprocess.run(
        [*ZHIDA, "demo", "--profiles", str(args.profiles), "--no-serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if demo.returncode != 0:
        raise SystemExit(f"zhida demo failed:\n{demo.stdout[-2000:]}\n{demo.stderr[-2000:]}")
    accounts = [m.group(1) for m in ACCOUNT.finditer(demo.stdout)]
    log(
        f"  demo of {args.profiles:,} profiles seeded in {time.perf_counter() - t0:,.1f} s; portal accounts: {len(accounts)}"
    )
    if args.shared_accounts:
        log(
            "  --shared-accounts: the simulated subjects share the demo's accounts (logins beyond the throttle get 429)"
        )
    else:
        accounts = portal_accounts(args.users, env)  # at least one per simulated subject: none shares an account
        log(f"  portal accounts for the load: {len(accounts)} (one per simulated subject)")
    urls, servers, logs = [], [], []
    for i in range(args.processes):
        port = free_port()
        urls.append(f"http://127.0.0.1:{port}")
        logs.append(work / f"serve-{i}.log")
        # stderr to a file, never an unread pipe: a full pipe would block the server on its next log line.
        with open(logs[-1], "wb") as err:
            servers.append(
                subprocess.Popen(
                    [*ZHIDA, "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
    url = urls[0]
    try:
        for u in urls:
            wait_ready(u)
        locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or "locust"
        stats = work / "locust"
        cmd = [
            locust,
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--only-summary",
            "-u",
            str(args.users),
            "-r",
            str(args.spawn_rate),
            "-t",
            f"{args.seconds}s",
            "--host",
            url,
            "--csv",
            str(stats),
            "--loglevel",
            "WARNING",
        ]
        log(
            f"  locust: {args.users} users (spawn {args.spawn_rate}/s), {args.seconds} s, "
            f"{len(urls)} zhida serve process(es) {' '.join(urls)} ({load()})"
        )
        lenv = {**env, "ZHIDA_LOAD_PORTAL": ",".join(accounts), "ZHIDA_LOAD_HOSTS": ",".join(urls)}
        t1 = time.perf_counter()
        subprocess.run(cmd, env=lenv, cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 120)
        busy = ", ".join(f"{cpu_seconds(p.pid):,.1f} s" for p in servers)
        log(f"  locust ran {time.perf_counter() - t1:,.1f} s; CPU of the serve process(es) since start: {busy}")
        report(stats.with_name("locust_stats.csv"))
        failures(stats.with_name("locust_failures.csv"))
        log(f"  after: {load()}")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        for path in logs:
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            log(f"  {path.name}: {len(lines)} lines on stderr" + "".join(f"\n    {ln[:200]}" for ln in lines[-5:]))


def report(path: Path) -> None:
    if not path.exists():
        raise SystemExit(f"locust wrote no statistics ({path})")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    log(f"  {'request':<34} {'n':>7} {'fail':>5} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)")
    for r in rows:
        name = "TOTAL" if r["Name"] == "Aggregated" else f"{r['Type']} {r['Name']}"
        log(
            f"  {name:<34} {int(r['Request Count']):>7,} {int(r['Failure Count']):>5} "
            f"{float(r['Requests/s']):>7.1f} {r['50%']:>6} {r['95%']:>6} {r['99%']:>6}"
        )


def failures(path: Path) -> None:
    """Locust's failure table (method, name, error, occurrences): each failure is accounted for, not just counted."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    log(f"  failures: {sum(int(r['Occurrences']) for r in rows)}")
    for r in rows:
        log(f"    {int(r['Occurrences']):>5} {r['Method']} {r['Name']}: {r['Error'][:160]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", type=int, default=10000)
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--spawn-rate", type=int, default=16)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--processes", type=int, default=1, help="zhida serve processes (each its own port; users spread)")
    ap.add_argument(
        "--shared-accounts",
        action="store_true",
        help="the old way: the simulated subjects share the demo's 4 accounts (shows the throttle's 429s)",
    )
    args = ap.parse_args()
    log(f"machine: {machine()}; {load()}")
    work = Path(tempfile.mkdtemp(prefix="zhida-webload-"))
    env = {k: v for k, v in os.environ.items() if k != "ZHIDA_REDIS_URL"}  # jobs in-process, as the demo runs
    env["PYTHONPATH"] = str(ROOT)
    env["ZHIDA_DATA_DIR"] = str(work)
    pgdb.throwaway_secrets(env)
    try:
        if args.db == "sqlite":
            env["ZHIDA_DATABASE_URL"] = f"sqlite:///{work}/load.db"
            log("sqlite:")
            run(args, env, work)
            return
        admin = os.environ.get("ZHIDA_BENCH_PG_DSN")
        if not admin:
            raise SystemExit("--db postgres: set ZHIDA_BENCH_PG_DSN to a server's DSN")
        with pgdb.database(admin, "zhida_webload") as dsn:
            env["ZHIDA_DATABASE_URL"] = dsn
            log("postgres:")
            run(args, env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
