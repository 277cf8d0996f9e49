"""A lean HTTP/1.1 keep-alive transport for httpx (asyncio streams + h11), used by the bank adapter on the network.

Why not httpx's default transport: under concurrency its pool (httpcore over anyio locks) costs 3-4 ms of
CPU per call here and stalls requests behind lock contention; a batch of 260,000 payments cannot afford it.
This transport does only what the bank adapter needs: one request per connection at a time, idle
connections reused last-in first-out, Content-Length or chunked answers (h11 parses), http and https.

Errors keep httpx's meaning, which the adapter's classification relies on: httpx.ConnectError /
ConnectTimeout when nothing was sent, httpx.RemoteProtocolError / ReadError once the request left."""

from __future__ import annotations

import asyncio
import ssl

import h11
import httpx

READ_CHUNK = 64 * 1024


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)

    def reusable(self) -> bool:
        return (
            self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, *, max_idle: int = 32, connect_timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def _connect(self, key: tuple[str, str, int], request: httpx.Request | None) -> _Connection:
        scheme, host, port = key
        idle = self._idle.get(key, [])
        while idle:
            conn = idle.pop()
            if conn.reusable():
                return conn
            conn.close()
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}", request=request)
        context = None
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context, limit=READ_CHUNK), self.connect_timeout
            )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}", request=request) from exc
        return _Connection(reader, writer)

    def _release(self, key: tuple[str, str, int], conn: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if conn.reusable() and len(idle) < self.max_idle:
            idle.append(conn)
        else:
            conn.close()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        url = request.url
        key = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        status, headers, content = await self.exchange(
            key, request.method.encode(), url.raw_path, list(request.headers.raw), body, request
        )
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def exchange(
        self,
        key: tuple[str, str, int],
        method: bytes,
        target: bytes,
        headers: list,
        body: bytes,
        request: httpx.Request | None = None,
    ) -> tuple[int, list, bytes]:
        """One request on a kept-alive connection to ``key`` = (scheme, host, port): (status, headers, body).
        ``headers`` must carry Host, and Content-Length when there is a body. The bank adapter calls this directly
        (no httpx.Request/Response objects on the way: CPU per call on large batches)."""
        conn = await self._connect(key, request)
        done = False
        try:
            try:
                data = conn.h11.send(h11.Request(method=method, target=target, headers=headers))
                data += conn.h11.send(h11.Data(data=body)) if body else b""
                data += conn.h11.send(h11.EndOfMessage())
            except h11.LocalProtocolError as exc:
                raise httpx.LocalProtocolError(str(exc), request=request) from exc
            try:
                conn.writer.write(data)
                await conn.writer.drain()
            except OSError as exc:
                raise httpx.WriteError(str(exc), request=request) from exc
            status, response_headers, chunks = 0, [], []
            while True:
                try:
                    event = conn.h11.next_event()
                except h11.RemoteProtocolError as exc:
                    raise httpx.RemoteProtocolError(str(exc), request=request) from exc
                if event is h11.NEED_DATA:
                    try:
                        received = await conn.reader.read(READ_CHUNK)
                    except OSError as exc:
                        raise httpx.ReadError(str(exc), request=request) from exc
                    conn.h11.receive_data(received)  # b"" tells h11 the peer closed
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    status, response_headers = event.status_code, [(k, v) for k, v in event.headers]
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body", request=request
                    )
            try:
                conn.h11.start_next_cycle()
            except h11.LocalProtocolError:
                pass  # "Connection: close" answers end here; _release closes them
            done = True
            return status, response_headers, b"".join(chunks)
        finally:
            if done:
                self._release(key, conn)
            else:
                conn.close()  # a half-used connection is never reused (also on cancellation)

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
