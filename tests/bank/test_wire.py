"""The adapter's own HTTP/1.1 transport against raw socket servers: chunked and closing answers, keep-alive,
and each way a connection can fail mapped to the outcome the payment service relies on."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from payments.adapters import BankOutcomeUnknown, BankTransient, HttpBankAdapter, TransferRequest

ANSWER = {"request_id": "w-1", "transfer_id": "T-1", "status": "settled"}


def request() -> TransferRequest:
    return TransferRequest("w-1", "360100000000000001", "6222020200112233", "张三", Decimal("8.80"))


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return head + await reader.readexactly(length)


class RawServer:
    """A loopback server whose every connection is handled by ``handler(reader, writer)``."""

    def __init__(self, handler) -> None:
        self.handler, self.connections, self.requests = handler, 0, []

    async def __aenter__(self):
        async def on_connect(reader, writer):
            self.connections += 1
            try:
                await self.handler(self, reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()


async def chunked_keepalive(server, reader, writer):
    while True:
        server.requests.append(await read_request(reader))
        body = json.dumps(ANSWER).encode()
        half = len(body) // 2
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
        )
        await writer.drain()


async def close_after_answer(server, reader, writer):
    server.requests.append(await read_request(reader))
    body = json.dumps(ANSWER).encode()
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()


async def drop_mid_answer(server, reader, writer):
    server.requests.append(await read_request(reader))
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n{"request_id": ')
    await writer.drain()


async def never_answer(server, reader, writer):
    server.requests.append(await read_request(reader))
    await reader.read()  # until the client gives up and closes


async def garbage(server, reader, writer):
    server.requests.append(await read_request(reader))
    writer.write(b"SMTP ready\r\n\r\n")
    await writer.drain()


async def test_chunked_answers_over_one_kept_alive_connection():
    async with RawServer(chunked_keepalive) as server:
        bank = HttpBankAdapter(server.url, "s", timeout=2)
        try:
            for _ in range(3):
                assert (await bank.submit(request())).transfer_id == "T-1"
        finally:
            await bank.aclose()
    assert server.connections == 1 and len(server.requests) == 3
    first = server.requests[0]
    assert first.startswith(b"POST /transfers HTTP/1.1\r\n")
    assert b'"amount":"8.80"' in first and b"x-signature: " in first.lower()


async def test_connection_close_answers_open_a_new_connection():
    async with RawServer(close_after_answer) as server:
        bank = HttpBankAdapter(server.url, "s", timeout=2)
        try:
            for _ in range(2):
                assert (await bank.submit(request())).status == "settled"
        finally:
            await bank.aclose()
    assert server.connections == 2


@pytest.mark.parametrize("handler", [drop_mid_answer, never_answer, garbage])
async def test_failures_after_sending_are_unknown(handler):
    async with RawServer(handler) as server:
        bank = HttpBankAdapter(server.url, "s", timeout=0.3)
        try:
            with pytest.raises(BankOutcomeUnknown):
                await bank.submit(request())
        finally:
            await bank.aclose()
        assert len(server.requests) == 1


async def test_a_refused_connection_is_transient():
    async with RawServer(never_answer) as server:
        url = server.url
    bank = HttpBankAdapter(url, "s", timeout=1)
    try:
        with pytest.raises(BankTransient):
            await bank.submit(request())
        with pytest.raises(BankTransient):
            await bank.query("w-1")
    finally:
        await bank.aclose()
