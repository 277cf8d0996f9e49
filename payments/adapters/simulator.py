"""Our simulator of the bank gateway contract: a plain ASGI app over its own SQLite record, with faults to inject.

Served by uvicorn for `zhida bank-sim`, or in-process through httpx.ASGITransport (see in_process_transport)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, quote

import httpx

from kit.money import yuan_to_fen
from payments.adapters import simulator_store as store_mod
from payments.adapters.simulator_config import (  # noqa: F401  (re-exported: the simulator's public names)
    DEFAULT_ACCOUNT_RULES,
    REASONS,
    SimulatorConfig,
    config_from_options,
    parse_account_rules,
)
from payments.adapters.simulator_store import SimTransfer, SimulatorStore

log = logging.getLogger("zhida.bank_sim")

MAX_SKEW_SECONDS = 300
MAX_BODY = 64 * 1024
FIELDS = ("request_id", "payer_account", "payee_account", "payee_name", "amount", "currency", "memo")


class ConnectionDropped(Exception):
    """Raised by the app after a partial answer, to drop the connection (the drop fault)."""


def _json(status: int, body: dict, headers: list | None = None) -> tuple[int, list, bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    return status, [(b"content-type", b"application/json")] + (headers or []), data


class Simulator:
    """The simulated bank. ``await sim(scope, receive, send)`` is the ASGI app; the rest is its record."""

    def __init__(
        self, db_path: str | Path, config: SimulatorConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db_path = Path(db_path)
        self.config = config or SimulatorConfig()
        self.clock = clock
        # Every database operation runs on this one thread: sqlite3 stays off the event loop and single-threaded.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bank-sim-db")
        self._store: SimulatorStore | None = None
        self._random = random.Random(self.config.seed)
        # Group commit: POST /transfers waiting for the database thread are written together, one transaction per
        # group (each request still decided on its own, in arrival order). Per event loop: arq/uvicorn use one.
        self._waiting: dict[int, list[tuple[dict, float, asyncio.Future]]] = {}
        self._writers: dict[int, asyncio.Task] = {}
        self.groups_written = 0  # write transactions of POST /transfers (group commit), for tests and figures
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        self._store = SimulatorStore(self.db_path)

    @property
    def store(self) -> SimulatorStore:
        """The open record (used on the database thread only)."""
        if self._store is None:
            raise RuntimeError("the bank simulator is closed")
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._executor.submit(self._store.close).result()
            self._store = None
        self._executor.shutdown(wait=True)

    async def _db(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))

    # -- inspection API (tests, chaos checks, demo) ---------------------------------------------------

    def transfers(self) -> list[SimTransfer]:
        return store_mod.all_transfers(self.db_path)

    def transfer(self, request_id: str) -> SimTransfer | None:
        return store_mod.one_transfer(self.db_path, request_id)

    def moves_per_request(self) -> dict[str, int]:
        """How many times money left the payer for each request_id (must never exceed 1)."""
        return store_mod.moves_per_request(self.db_path)

    def posts_per_request(self) -> dict[str, int]:
        """How many POST /transfers the bank received for each request_id (retries included)."""
        return store_mod.posts_per_request(self.db_path)

    def net_paid_per_payee(self) -> dict[str, Decimal]:
        return store_mod.net_paid_per_payee(self.db_path)

    def reverse(self, request_id: str, at: float | None = None) -> SimTransfer:
        """退汇 after settlement. KeyError when never taken, ValueError when not settled."""
        when = self.clock() if at is None else at
        return self._executor.submit(self._reverse, request_id, when).result()

    def _reverse(self, request_id: str, when: float) -> SimTransfer:
        with store_mod.immediate(self.store.conn):
            self.store.settle_due(when)
            return self.store.reverse(request_id, when)

    # -- the bank's logic (runs on the database thread) ----------------------------------------------

    def _roll(self, request_id: str, attempt: int) -> float:
        if self.config.seed is None:
            return random.random()
        digest = hashlib.sha256(f"{self.config.seed}:{request_id}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def _pick_fault(self, roll: float) -> str | None:
        c = self.config
        edge = 0.0
        for name, rate in (
            ("rate_limit", c.rate_limit_rate),
            ("fail", c.fail_rate),
            ("timeout", c.timeout_rate),
            ("drop", c.drop_rate),
            ("slow", c.slow_rate),
        ):
            edge += rate
            if roll < edge:
                return name
        return None

    def _decide(self, fields: dict) -> tuple[str, str | None, int | None]:
        """(status, reason, amount_fen) for a new transfer: the validation and the account rules."""
        try:
            amount = Decimal(fields["amount"])
        except InvalidOperation:
            return "rejected", "INVALID_AMOUNT", None
        if not amount.is_finite() or amount <= 0 or amount >= 10**13 or amount != amount.quantize(Decimal("0.01")):
            return "rejected", "INVALID_AMOUNT", None
        fen = yuan_to_fen(amount)  # exact: at most 2 decimals was checked just above
        for suffix, reason in self.config.account_rules.items():
            if fields["payee_account"].endswith(suffix):
                return "rejected", reason, fen
        balance = self.config.payer_balance
        if balance is not None and self.store.debited_fen(fields["payer_account"]) + fen > int(balance * 100):
            return "rejected", "INSUFFICIENT_FUNDS", fen
        if self.config.settle_delay > 0 or self.config.answer_accepted:
            return "accepted", None, fen
        return "settled", None, fen

    def _post_transfer(self, fields: dict, now: float) -> tuple[str | None, SimTransfer | None]:
        """(fault, transfer); transfer is None for 409 (fault "conflict") and for faults before taking."""
        with store_mod.immediate(self.store.conn):
            return self._post_one(fields, now)

    def _post_group(self, items: list[tuple[dict, float]]) -> list:
        """Several POSTs in one write transaction (group commit): each is decided exactly as alone, in order, so a
        request_id repeated within the group sees its first occurrence. Returns (fault, transfer) or the exception
        per item. If anything fails, the group is rolled back and its items are written again one transaction each, so a
        failing item fails alone."""
        self.groups_written += 1
        if len(items) == 1:
            try:
                return [self._post_transfer(*items[0])]
            except Exception as exc:  # noqa: BLE001 — handed to that request's handler, as without grouping
                return [exc]
        try:
            with store_mod.immediate(self.store.conn):
                return [self._post_one(fields, now) for fields, now in items]
        except Exception:  # noqa: BLE001 — the whole group was rolled back: each again on its own, so only the
            out: list = []  # failing one fails (the others are decided exactly as they would have been)
            for item in items:
                try:
                    out.append(self._post_transfer(*item))
                except Exception as exc:  # noqa: BLE001
                    out.append(exc)
            return out

    async def _post(self, fields: dict, now: float) -> tuple[str | None, SimTransfer | None]:
        """Queue one POST for the next group commit; answers once its group is committed. No waiting is added:
        a group is whatever arrived while the previous one was being written."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        key = id(loop)
        waiting = self._waiting.setdefault(key, [])
        waiting.append((fields, now, future))
        if key not in self._writers:
            self._writers[key] = loop.create_task(self._write_groups(key))
        return await future

    async def _write_groups(self, key: int) -> None:
        """Write what is waiting, group after group, until nothing is."""
        group: list = []
        try:
            while self._waiting.get(key):
                group, self._waiting[key] = self._waiting[key], []
                try:
                    results = await self._db(self._post_group, [(f, n) for f, n, _ in group])
                except Exception as exc:  # noqa: BLE001 — the transaction failed: nothing of this group was taken
                    results = [exc] * len(group)
                for (_, _, future), result in zip(group, results):
                    if not future.done():
                        if isinstance(result, Exception):
                            future.set_exception(result)
                        else:
                            future.set_result(result)
                group = []
        finally:
            self._writers.pop(key, None)
            # Stopped mid-write (shutdown): a group may have been taken without an answer, so its requests end
            # like a dropped connection (outcome unknown to the client, resolved by a query).
            for _, _, future in group + self._waiting.pop(key, []):
                if not future.done():
                    future.set_exception(ConnectionDropped("the bank simulator stopped while writing"))

    def _post_one(self, fields: dict, now: float) -> tuple[str | None, SimTransfer | None]:
        """The decision for one POST, inside the caller's write transaction."""
        store = self.store
        attempt = store.bump_attempt(fields["request_id"])
        fault = self._pick_fault(self._roll(fields["request_id"], attempt))
        if fault in ("rate_limit", "fail"):
            return fault, None
        if self._may_accept:
            store.settle_due(now)
        fp = store_mod.fingerprint(
            {k: fields[k] for k in FIELDS if k != "amount"} | {"amount": _amount_key(fields["amount"])}
        )
        existing = store.fingerprint_of(fields["request_id"])
        if existing is not None:
            if existing != fp:
                return "conflict", None
            return fault, store.get(fields["request_id"])
        status, reason, fen = self._decide(fields)
        due = now + self.config.settle_delay if status == "accepted" else None
        return fault, store.take(fields, fp, fen, status, reason, now, due)

    @property
    def _may_accept(self) -> bool:
        # Another process on the same file may run with a settle delay; it settles its own on its requests.
        return self.config.settle_delay > 0 or self.config.answer_accepted

    def _query(self, request_id: str, now: float) -> SimTransfer | None:
        store = self.store
        if not self._may_accept:
            return store.get(request_id)
        with store_mod.immediate(store.conn):
            store.settle_due(now)
            return store.get(request_id)

    def _statement_rows(self, day: dt.date, now: float) -> list[tuple]:
        store = self.store
        with store_mod.immediate(store.conn):
            store.settle_due(now)
            return store.statement_rows(day)

    # -- ASGI ----------------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        """The app as served by uvicorn: a dropped connection ends the response unfinished (uvicorn closes it)."""
        try:
            await self.handle(scope, receive, send)
        except ConnectionDropped:
            return

    async def handle(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                return await _respond(send, *_json(413, {"error": "TOO_LARGE"}))
            if not message.get("more_body"):
                break
        await self._route(scope, receive, send, body)

    async def _route(self, scope, receive, send, body: bytes) -> None:
        method, path = scope["method"], scope["path"]
        if path == "/_sim/health":
            return await _respond(send, *_json(200, {"status": "ok"}))
        if not self._signed(scope, body):
            return await _respond(send, *_json(401, {"error": "BAD_SIGNATURE"}))
        now = self.clock()
        if path == "/transfers":
            if method != "POST":
                return await _respond(send, *_json(405, {"error": "METHOD_NOT_ALLOWED"}))
            return await self._transfer(receive, send, body, now)
        if path.startswith("/transfers/") and path.count("/") == 2:
            if method != "GET":
                return await _respond(send, *_json(405, {"error": "METHOD_NOT_ALLOWED"}))
            if await self._query_fault(send):
                return
            found = await self._db(self._query, path[len("/transfers/") :], now)
            return await _respond(send, *(_json(200, found.answer()) if found else _json(404, {"error": "NOT_FOUND"})))
        if path == "/statements":
            if method != "GET":
                return await _respond(send, *_json(405, {"error": "METHOD_NOT_ALLOWED"}))
            return await self._statement(scope, send, now)
        if path.startswith("/_sim/reverse/") and method == "POST":
            try:
                done = await self._db(self._reverse, path[len("/_sim/reverse/") :], now)
            except KeyError:
                return await _respond(send, *_json(404, {"error": "NOT_FOUND"}))
            except ValueError as exc:
                return await _respond(send, *_json(409, {"error": "NOT_SETTLED", "detail": str(exc)}))
            return await _respond(send, *_json(200, done.answer()))
        return await _respond(send, *_json(404, {"error": "NO_SUCH_ROUTE"}))

    def _signed(self, scope, body: bytes) -> bool:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        timestamp, signature = headers.get("x-timestamp", ""), headers.get("x-signature", "")
        try:
            skew = abs(self.clock() - int(timestamp))
        except ValueError:
            return False
        if skew > MAX_SKEW_SECONDS:
            return False
        # The signed path is the request target as sent: the raw path and, when there is one, ? and the query
        # string (bank-gateway.md). ASGI gives the query apart from the path; a signature without it is refused.
        raw = scope.get("raw_path") or quote(scope["path"]).encode()
        query = scope.get("query_string") or b""
        target = raw.split(b"?")[0] + (b"?" + query if query else b"")
        candidates = {target.decode("latin-1")}
        if not query:
            candidates.add(scope["path"])
        for path in candidates:
            message = b"\n".join([timestamp.encode(), scope["method"].encode(), path.encode("utf-8"), body])
            expected = hmac.new(self.config.secret.encode(), message, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, signature.lower()):
                return True
        return False

    async def _query_fault(self, send) -> bool:
        c = self.config
        if not c.fault_queries:
            return False
        roll = self._random.random()
        if roll < c.rate_limit_rate:
            await _respond(
                send, *_json(429, {"error": "RATE_LIMITED"}, [(b"retry-after", str(c.retry_after).encode())])
            )
            return True
        if roll < c.rate_limit_rate + c.fail_rate:
            await _respond(send, *_json(503, {"error": "UNAVAILABLE"}))
            return True
        return False

    async def _transfer(self, receive, send, body: bytes, now: float) -> None:
        fields = _parse_transfer(body)
        if isinstance(fields, str):
            return await _respond(send, *_json(400, {"error": "INVALID_REQUEST", "detail": fields}))
        fault, transfer = await self._post(fields, now)
        if fault == "conflict":
            return await _respond(send, *_json(409, {"error": "IDEMPOTENCY_CONFLICT"}))
        if fault == "rate_limit":
            return await _respond(
                send, *_json(429, {"error": "RATE_LIMITED"}, [(b"retry-after", str(self.config.retry_after).encode())])
            )
        if fault == "fail":
            return await _respond(send, *_json(503, {"error": "UNAVAILABLE"}))
        if transfer is None:  # only a conflict or a fault before taking comes without one: both answered above
            raise RuntimeError(f"the simulator took {fields['request_id']} without a record of it")
        status, headers, data = _json(200, transfer.answer())
        if fault == "timeout":
            log.info("bank-sim: %s taken, answer withheld", fields["request_id"])
            try:  # until the client gives up (it disconnects) or hang_seconds pass
                await asyncio.wait_for(receive(), self.config.hang_seconds)
                return
            except TimeoutError:
                pass
        elif fault == "drop":
            log.info("bank-sim: %s taken, connection dropped", fields["request_id"])
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": headers + [(b"content-length", str(len(data)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True})
            raise ConnectionDropped(fields["request_id"])
        elif fault == "slow":
            await asyncio.sleep(self.config.slow_seconds)
        await _respond(send, status, headers, data)

    async def _statement(self, scope, send, now: float) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            day = dt.date.fromisoformat(query.get("date", [""])[0])
        except ValueError:
            return await _respond(send, *_json(400, {"error": "INVALID_DATE"}))
        rows = await self._db(self._statement_rows, day, now)
        lines = ["transfer_id,request_id,payee_account,amount,status,settled_at"]
        lines += [",".join(_csv_cell(v) for v in row) for row in rows]
        data = ("\r\n".join(lines) + "\r\n").encode()
        await _respond(send, 200, [(b"content-type", b"text/csv; charset=utf-8")], data)


def _amount_key(text: str) -> str:
    """ "100.5" and "100.50" are the same amount for idempotency."""
    try:
        return format(Decimal(text).normalize(), "f")
    except InvalidOperation:
        return text


def _csv_cell(value: str) -> str:
    value = str(value)
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


def _parse_transfer(body: bytes) -> dict | str:
    """The POST body's fields, or what is wrong with it (→ 400). Amount problems are not 400: they are rejections."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON"
    if not isinstance(data, dict):
        return "body is not a JSON object"
    fields = {}
    for name in FIELDS:
        value = data.get(name, "" if name == "memo" else None)
        if name == "currency" and value is None:
            value = "CNY"
        if not isinstance(value, str):
            return f"{name} must be a string"
        fields[name] = value
    rid = fields["request_id"]
    if not rid or len(rid) > 64 or "/" in rid or not rid.isprintable():
        return "request_id must be 1 to 64 printable characters without '/'"
    if not fields["payee_account"] or not fields["payer_account"]:
        return "payer_account and payee_account are required"
    if fields["currency"] != "CNY":
        return "only CNY is supported"
    return fields


async def _respond(send, status: int, headers: list, data: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers + [(b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


class InProcessTransport(httpx.ASGITransport):
    """httpx.ASGITransport to the simulator in this process, behaving like the wire: a dropped connection
    arrives as httpx.RemoteProtocolError, as it would from a socket."""

    def __init__(self, simulator: Simulator) -> None:
        super().__init__(app=simulator.handle)
        self.simulator = simulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            ) from exc


def in_process_transport(simulator: Simulator) -> InProcessTransport:
    return InProcessTransport(simulator)


__all__ = [
    "Simulator",
    "SimulatorConfig",
    "SimTransfer",
    "InProcessTransport",
    "config_from_options",
    "parse_account_rules",
]
