"""The HTTP client of the bank gateway contract (contracts/bank-gateway.md): signing, and classifying every answer."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import email.utils
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

import httpx

from kit.i18n import _l
from kit.metrics import bank_call
from kit.time import CHINA
from payments.adapters.base import (
    BankAuthError,
    BankBadRequest,
    BankConflict,
    BankOutcomeUnknown,
    BankRateLimited,
    BankTransient,
    StatementLine,
    TransferRequest,
    TransferResult,
)
from payments.adapters.simulator import Simulator
from payments.adapters.wire import KeepAliveTransport

log = logging.getLogger("zhida.bank")

BANK_TZ = CHINA  # the bank's and the receipts' time: China's
TRANSFER_STATUSES = frozenset({"accepted", "settled", "rejected", "reversed"})
STATEMENT_HEADER = ["transfer_id", "request_id", "payee_account", "amount", "status", "settled_at"]
TRANSIENT_STATUSES = frozenset({500, 502, 503})
# A 4xx other than those of the contract means the bank did not process the request at all.
REFUSED_STATUSES = frozenset({400, 404, 405, 411, 413, 414, 415, 422})
CENT = Decimal("0.01")


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``timestamp\\nMETHOD\\npath\\nbody``, where path is the request target as sent
    on the wire: the path and, when there is one, ``?`` and the query string (bank-gateway.md, Signing)."""
    message = b"\n".join([timestamp.encode(), method.upper().encode(), path.encode(), body])
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def format_amount(amount: Decimal) -> str:
    """Yuan as the contract's decimal string with exactly 2 decimals; refuses what the bank cannot take exactly."""
    if not isinstance(amount, Decimal):
        # A float has already lost the fen; an int is fine but must be said explicitly.
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite() or amount <= 0:
        raise ValueError("amount must be a finite Decimal > 0")
    try:
        quantized = amount.quantize(CENT)
    except InvalidOperation:  # more digits than the context holds: no bank amount is that large
        raise ValueError("amount is too large") from None
    if quantized != amount:
        raise ValueError("amount has more than 2 decimals")
    return format(quantized, "f")


def transfer_body(request: TransferRequest) -> bytes:
    payload = {
        "request_id": request.request_id,
        "payer_account": request.payer_account,
        "payee_account": request.payee_account,
        "payee_name": request.payee_name,
        "amount": format_amount(request.amount),
        "currency": request.currency,
        "memo": request.memo,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_retry_after(value: str | None, now: float) -> float:
    """Retry-After in seconds (delta-seconds or an HTTP date); 1 s when absent or unreadable."""
    if not value:
        return 1.0
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def parse_transfer(data: object, request_id: str) -> TransferResult:
    """The 200 body of POST or GET /transfers; ValueError when it is not what the contract says."""
    if not isinstance(data, dict):
        raise ValueError("answer is not a JSON object")
    status = data.get("status")
    transfer_id = data.get("transfer_id")
    if data.get("request_id") != request_id:
        raise ValueError("answer names another request_id")
    if status not in TRANSFER_STATUSES:
        raise ValueError(f"unknown transfer status {status!r}")
    if not isinstance(transfer_id, str) or not transfer_id:
        raise ValueError("answer carries no transfer_id")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ValueError("reason is not a string")
    if status == "rejected" and not reason:
        raise ValueError("rejected without a reason")
    return TransferResult(request_id=request_id, transfer_id=transfer_id, status=status, reason=reason or None)


def parse_statement(text: str) -> list[StatementLine]:
    """The statement CSV; ValueError on any line that is not exact (amounts stay Decimal, times are Asia/Shanghai)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = list(reader)
    if not rows:
        raise ValueError("empty statement (not even a header)")
    header = [h.strip() for h in rows[0]]
    if header != STATEMENT_HEADER:
        raise ValueError(f"unexpected statement header {header}")
    lines = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(STATEMENT_HEADER):
            raise ValueError(f"statement line {number}: {len(row)} fields")
        transfer_id, request_id, payee_account, amount_text, status, settled_text = (c.strip() for c in row)
        try:
            amount = Decimal(amount_text)
        except InvalidOperation:
            raise ValueError(f"statement line {number}: amount is not a decimal") from None
        if not amount.is_finite():
            raise ValueError(f"statement line {number}: amount is not finite")
        settled_at = dt.datetime.fromisoformat(settled_text.replace("Z", "+00:00"))
        # A time without offset is bank time, which the contract fixes as Asia/Shanghai.
        settled_at = settled_at.replace(tzinfo=BANK_TZ) if settled_at.tzinfo is None else settled_at.astimezone(BANK_TZ)
        lines.append(
            StatementLine(
                transfer_id=transfer_id,
                request_id=request_id,
                payee_account=payee_account,
                amount=amount,
                status=status,
                settled_at=settled_at,
            )
        )
    return lines


class _Answer:
    """An answer as the adapter reads it (status_code, headers.get, json(), content), from our own transport without
    building an httpx.Response: a large batch makes hundreds of thousands of calls."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        self.status_code = status
        self.headers = _Headers((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers)
        self.content = content

    def json(self):
        return json.loads(self.content)  # bytes: UTF-8/16/32 detected as the JSON standard says


class _Headers(dict):
    def get(self, name: str, default=None):  # case-insensitive, like httpx.Headers
        return super().get(name.lower(), default)


def _error_code(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""


class HttpBankAdapter:
    """BankAdapter over HTTP. One call, one classified outcome: retries and backoff belong to the caller.

    ``timeout`` bounds each call as a whole (connect + send + answer), enforced by the adapter itself so
    it also holds for transports that do not time out (httpx.ASGITransport, used in-process)."""

    def __init__(
        self,
        base_url: str,
        secret: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        max_connections: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._secret = secret
        self._clock = clock
        self.simulator: Simulator | None = None  # set by get_adapter when the bundled simulator runs in-process
        # The transport is used directly, without httpx.AsyncClient (no cookies, redirects or auth hooks), and on
        # the network it is our lean keep-alive transport (wire.py): both for CPU per call on large batches.
        self._transport = transport or KeepAliveTransport(max_idle=max_connections, connect_timeout=timeout)
        self._timeouts = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._transfers_url = httpx.URL(self.base_url + "/transfers")
        self._closers: list[Callable[[], object]] = []
        # Calls beyond max_connections wait here, before their timeout starts: time spent queueing for a
        # connection must not turn into a false "outcome unknown".
        self._slots = asyncio.Semaphore(max_connections)

    def on_close(self, closer: Callable[[], object]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        await self._transport.aclose()
        for closer in self._closers:
            result = closer()
            if asyncio.iscoroutine(result):
                await result

    async def __aenter__(self) -> HttpBankAdapter:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def _headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        headers = {"X-Timestamp": timestamp, "X-Signature": sign(self._secret, timestamp, method, path, body)}
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return headers

    async def _send(self, method: str, path: str, body: bytes = b"", params: dict | None = None):
        """Send signed and read the whole answer; httpx exceptions and TimeoutError propagate for the caller to classify.
        Returns an httpx.Response, or on our own transport the same readings without it (``_Answer``)."""
        url = self._transfers_url if path == "/transfers" else httpx.URL(self.base_url + path, params=params)
        # The signature covers the request target exactly as it goes on the wire, query string included: what
        # decides the answer (a statement's date) is signed, and a strict gateway refuses anything less.
        signed_path = url.raw_path.decode("ascii")
        if isinstance(self._transport, KeepAliveTransport):
            headers = [
                (b"Host", url.netloc),
                *((k.encode(), v.encode()) for k, v in self._headers(method, signed_path, body).items()),
            ]
            if body:
                headers.append((b"Content-Length", str(len(body)).encode()))
            key = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
            async with self._slots:
                async with asyncio.timeout(self.timeout):
                    status, answer_headers, content = await self._transport.exchange(
                        key, method.encode(), url.raw_path, headers, body
                    )
            return _Answer(status, answer_headers, content)
        request = httpx.Request(
            method, url, content=body, headers=self._headers(method, signed_path, body), extensions=self._timeouts
        )
        async with self._slots:
            # asyncio.timeout rather than wait_for: the same TimeoutError, without a task per call.
            async with asyncio.timeout(self.timeout):
                return await self._exchange(request)

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        response.request = request
        return response

    async def submit(self, request: TransferRequest) -> TransferResult:
        with bank_call("submit"):
            return await self._submit(request)

    async def _submit(self, request: TransferRequest) -> TransferResult:
        body = transfer_body(request)
        rid = request.request_id
        started = time.monotonic()
        try:
            response = await self._send("POST", "/transfers", body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            # Nothing reached the bank: safe to send the same request again.
            log.warning("bank submit %s: not sent (%s)", rid, type(exc).__name__)
            raise BankTransient(_l("bank unreachable: {error}"), error=type(exc).__name__) from exc
        except (TimeoutError, httpx.HTTPError) as exc:
            # Sent (or possibly sent): the bank may have taken the transfer. Only a query can tell.
            log.warning("bank submit %s: outcome unknown (%s)", rid, type(exc).__name__)
            raise BankOutcomeUnknown(
                _l("no answer from the bank ({error}); query before any resend"), error=type(exc).__name__
            ) from exc
        except Exception as exc:
            # A transport failing in a way it should not (e.g. an in-process bank raising): still possibly taken.
            log.error("bank submit %s: outcome unknown after an unexpected error", rid, exc_info=True)
            raise BankOutcomeUnknown(
                _l("unexpected error talking to the bank ({error}); query before any resend"), error=type(exc).__name__
            ) from exc
        elapsed = time.monotonic() - started
        status = response.status_code
        log.info("bank submit %s: HTTP %s in %.3fs", rid, status, elapsed)
        if status == 200:
            try:
                return parse_transfer(response.json(), rid)
            except ValueError as exc:
                raise BankOutcomeUnknown(_l("unreadable answer from the bank: {error}"), error=str(exc)) from exc
        self._raise_common(response)
        if status == 409:
            raise BankConflict(_l("request_id {request_id} was already used with a different body"), request_id=rid)
        if status in REFUSED_STATUSES:
            code = _error_code(response)
            if code:
                raise BankBadRequest(
                    _l("the bank refused the request: HTTP {http_status} {code}"), status, http_status=status, code=code
                )
            raise BankBadRequest(_l("the bank refused the request: HTTP {http_status}"), status, http_status=status)
        # 504 and anything else unexpected: we cannot tell whether the transfer was taken.
        raise BankOutcomeUnknown(_l("unexpected answer from the bank: HTTP {http_status}"), http_status=status)

    def _raise_common(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 401:
            raise BankAuthError(_l("the bank refused our signature (wrong secret, or clock more than 300 s off)"))
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            raise BankRateLimited(
                _l("rate limited by the bank, retry after {seconds:g} s"), retry_after, seconds=retry_after
            )
        if status in TRANSIENT_STATUSES:
            raise BankTransient(_l("bank temporarily unavailable: HTTP {http_status}"), http_status=status)

    async def _get(self, what: str, path: str, params: dict | None = None) -> httpx.Response:
        """A read: it moves no money, so every failure to get an answer is simply transient."""
        try:
            response = await self._send("GET", path, params=params)
        except (TimeoutError, httpx.HTTPError) as exc:
            log.warning("bank %s: no answer (%s)", what, type(exc).__name__)
            raise BankTransient(
                _l("no answer from the bank to {what} ({error})"), what=what, error=type(exc).__name__
            ) from exc
        except Exception as exc:
            log.error("bank %s: unexpected error", what, exc_info=True)
            raise BankTransient(_l("unexpected error talking to the bank ({error})"), error=type(exc).__name__) from exc
        log.info("bank %s: HTTP %s", what, response.status_code)
        return response

    async def query(self, request_id: str) -> TransferResult | None:
        with bank_call("query"):
            return await self._query(request_id)

    async def _query(self, request_id: str) -> TransferResult | None:
        response = await self._get(f"query {request_id}", f"/transfers/{quote(request_id, safe='')}")
        status = response.status_code
        if status == 200:
            try:
                return parse_transfer(response.json(), request_id)
            except ValueError as exc:
                raise BankTransient(_l("unreadable answer from the bank: {error}"), error=str(exc)) from exc
        if status == 404:
            # Only the contract's own 404 proves the money did not move; a proxy's 404 page proves nothing.
            if _error_code(response) == "NOT_FOUND":
                return None
            raise BankBadRequest(_l("HTTP 404 without the contract's NOT_FOUND body: wrong bank URL?"), 404)
        self._raise_common(response)
        if status in REFUSED_STATUSES:
            raise BankBadRequest(_l("the bank refused the query: HTTP {http_status}"), status, http_status=status)
        raise BankTransient(_l("unexpected answer from the bank to a query: HTTP {http_status}"), http_status=status)

    async def statement(self, date: dt.date) -> list[StatementLine]:
        with bank_call("statement"):
            return await self._statement(date)

    async def _statement(self, date: dt.date) -> list[StatementLine]:
        response = await self._get(f"statement {date.isoformat()}", "/statements", params={"date": date.isoformat()})
        status = response.status_code
        if status == 200:
            try:
                return parse_statement(response.content.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise BankTransient(_l("unreadable statement from the bank: {error}"), error=str(exc)) from exc
        self._raise_common(response)
        if status in REFUSED_STATUSES:
            raise BankBadRequest(
                _l("the bank refused the statement request: HTTP {http_status}"), status, http_status=status
            )
        raise BankTransient(
            _l("unexpected answer from the bank to a statement request: HTTP {http_status}"), http_status=status
        )
