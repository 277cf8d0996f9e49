"""The adapter against a second, independent and stricter server of the contract written here (not our
simulator): it answers "accepted" and settles only when asked, insists on exact amounts and signatures,
adds fields of its own, writes naive bank times with a BOM, and sends Retry-After as an HTTP date."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import json
import re
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from payments.adapters import BankAuthError, BankConflict, BankRateLimited, HttpBankAdapter
from tests.bank.test_adapter import transfer

SECRET = "strict-secret"
AMOUNT = re.compile(r"^[1-9]\d*\.\d{2}$|^0\.(0[1-9]|[1-9]\d)$")
KEYS = {"request_id", "payer_account", "payee_account", "payee_name", "amount", "currency", "memo"}


class StrictBank:
    def __init__(self) -> None:
        self.transfers: dict[str, dict] = {}
        self.throttled: set[str] = set()
        self.seen_bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, headers, data = self.answer(scope, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def answer(self, scope, body: bytes):
        headers = dict((k.decode(), v.decode()) for k, v in scope["headers"])
        ts = headers.get("x-timestamp", "")
        path = scope["raw_path"].decode()  # exactly as on the wire, never re-encoded
        # The signed target includes the query string (bank-gateway.md): a statement's date is signed too.
        query = scope.get("query_string", b"").decode()
        target = path + ("?" + query if query else "")
        expected = hmac.new(
            SECRET.encode(), f"{ts}\n{scope['method']}\n{target}\n".encode() + body, hashlib.sha256
        ).hexdigest()
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300 or headers.get("x-signature") != expected:
            return self.json(401, {"error": "UNAUTHORIZED"})
        if scope["method"] == "POST" and path == "/v2/transfers":
            self.seen_bodies.append(body)
            data = json.loads(body)
            if set(data) != KEYS or not AMOUNT.match(data["amount"]) or data["currency"] != "CNY":
                return self.json(400, {"error": "BAD_REQUEST"})
            rid = data["request_id"]
            if rid.startswith("rl-") and rid not in self.throttled:
                self.throttled.add(rid)
                later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
                return self.json(429, {"error": "SLOW_DOWN"}, [(b"retry-after", later.encode())])
            known = self.transfers.get(rid)
            if known and known["body"] != data:
                return self.json(409, {"error": "CONFLICT"})
            if not known:
                known = self.transfers[rid] = {
                    "body": data,
                    "transfer_id": f"BANK-{len(self.transfers) + 1:06d}",
                    "status": "accepted",
                    "settled_at": None,
                }
            return self.json(200, self.view(rid))
        if scope["method"] == "GET" and path.startswith("/v2/transfers/"):
            rid = scope["path"][len("/v2/transfers/") :]
            known = self.transfers.get(rid)
            if not known:
                return self.json(404, {"error": "NOT_FOUND"})
            if known["status"] == "accepted":  # settles only when asked
                known["status"], known["settled_at"] = "settled", dt.datetime.now(ZoneInfo("Asia/Shanghai"))
            return self.json(200, self.view(rid))
        if scope["method"] == "GET" and path == "/v2/statements":
            day = dt.date.fromisoformat(scope["query_string"].decode().removeprefix("date="))
            lines = ["\ufefftransfer_id,request_id,payee_account,amount,status,settled_at"]
            for rid, t in self.transfers.items():
                if t["settled_at"] and t["settled_at"].date() == day:
                    lines.append(
                        f"{t['transfer_id']},{rid},{t['body']['payee_account']},{t['body']['amount']},"
                        f"settled,{t['settled_at'].strftime('%Y-%m-%d %H:%M:%S')}"
                    )
            return 200, [(b"content-type", b"text/csv")], "\n".join(lines).encode()
        return self.json(404, {"error": "NO_ROUTE"})

    def view(self, rid: str) -> dict:
        t = self.transfers[rid]
        return {
            "request_id": rid,
            "transfer_id": t["transfer_id"],
            "status": t["status"],
            "bank_ref": "extra-field-the-adapter-ignores",
            "accepted_at": "2026-11-22T10:00:00+08:00",
        }

    @staticmethod
    def json(status: int, body: dict, headers: list | None = None):
        return status, [(b"content-type", b"application/json")] + (headers or []), json.dumps(body).encode()


@pytest.fixture
async def strict():
    server = StrictBank()
    bank = HttpBankAdapter("http://strict.bank/v2", SECRET, timeout=2, transport=httpx.ASGITransport(app=server))
    yield bank, server
    await bank.aclose()


async def test_accepted_then_settled_on_query(strict):
    bank, server = strict
    first = await bank.submit(transfer("s-1", amount="100.50"))
    assert (first.status, first.transfer_id) == ("accepted", "BANK-000001")
    assert (await bank.query("s-1")).status == "settled"
    assert json.loads(server.seen_bodies[0])["amount"] == "100.50"


async def test_statement_with_naive_bank_times(strict):
    bank, _ = strict
    await bank.submit(transfer("s-2", amount="0.07"))
    await bank.query("s-2")
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    lines = [line for line in await bank.statement(today) if line.request_id == "s-2"]
    if lines:  # unless midnight passed between the two calls
        [line] = lines
        assert line.amount == Decimal("0.07") and line.transfer_id == "BANK-000001"
        assert line.settled_at.tzinfo is not None and line.settled_at.utcoffset() == dt.timedelta(hours=8)


async def test_idempotency_and_conflict(strict):
    bank, server = strict
    a = await bank.submit(transfer("s-3"))
    assert await bank.submit(transfer("s-3")) == a
    assert server.seen_bodies[0] == server.seen_bodies[1], "a retry sends the very same bytes"
    with pytest.raises(BankConflict):
        await bank.submit(transfer("s-3", amount="1.00"))
    assert await bank.query("unknown-id") is None


async def test_retry_after_as_an_http_date(strict):
    bank, _ = strict
    with pytest.raises(BankRateLimited) as caught:
        await bank.submit(transfer("rl-1"))
    assert 25 <= caught.value.retry_after <= 31
    assert (await bank.submit(transfer("rl-1"))).status == "accepted"


async def test_signature_with_another_secret_is_refused(strict):
    _, server = strict
    wrong = HttpBankAdapter("http://strict.bank/v2", "other", transport=httpx.ASGITransport(app=server))
    try:
        with pytest.raises(BankAuthError):
            await wrong.query("s-1")
    finally:
        await wrong.aclose()
