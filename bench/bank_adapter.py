"""Throughput of the bank adapter against the simulator (in-process, or served at --url): prints transfers/s.

.venv/bin/python bench/bank_adapter.py --n 5000 --concurrency 32
.venv/bin/zhida bank-sim --port 8900 --reject-accounts '' &  .venv/bin/python bench/bank_adapter.py --url http://127.0.0.1:8900
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from payments.adapters.base import TransferRequest
from payments.adapters.http_bank import HttpBankAdapter
from payments.adapters.simulator import InProcessTransport, Simulator, SimulatorConfig


async def measure(bank: HttpBankAdapter, n: int, concurrency: int) -> tuple[float, float]:
    run = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await bank.submit(
                TransferRequest(f"bench-{run}-{i}", "360100000000000001", f"6222{i:012d}", "收款人", Decimal("1234.56"))
            )

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--url", help="a served simulator (zhida bank-sim); default: in-process")
    parser.add_argument("--secret", default=os.environ.get("ZHIDA_BANK_SECRET") or secrets.token_urlsafe(32))
    args = parser.parse_args()
    simulator = None
    if args.url:
        bank = HttpBankAdapter(args.url, args.secret)
    else:
        simulator = Simulator(
            Path(tempfile.mkdtemp()) / "bank-sim.db", SimulatorConfig(secret=args.secret, account_rules={})
        )
        bank = HttpBankAdapter("http://bank-sim.in-process", args.secret, transport=InProcessTransport(simulator))
    try:
        rate, cpu_ms = await measure(bank, args.n, args.concurrency)
    finally:
        await bank.aclose()
        if simulator:
            simulator.close()
    where = args.url or "in-process"
    print(
        f"{args.n} transfers to {where}, {args.concurrency} concurrent: {rate:.0f} transfers/s, "
        f"{cpu_ms:.2f} ms CPU per transfer in this process"
    )


if __name__ == "__main__":
    asyncio.run(main())
