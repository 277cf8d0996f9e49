"""Local receivers that stand in for the outside world: an SMTP sink (aiosmtpd) and an HTTP sink for the
SMS gateway interface and webhooks, all on free loopback ports in background threads.

``zhida demo`` starts them with ``start_demo_sinks(data_dir)`` so notices really leave through SMTP and
HTTP without any network; tests use the same classes as the mail server and the SMS gateway.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from notifications.channels.base import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives in ``messages`` (and, given
    an ``outbox`` folder, writes each message there as a .eml file). ``refuse`` holds SMTP replies to
    give to the next DATA commands instead of accepting (e.g. "451 4.3.0 try again later")."""

    def __init__(self, outbox: Path | None = None, port: int | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.outbox = outbox
        self.messages: list[dict[str, Any]] = []
        self.refuse: list[str] = []
        self._lock = threading.Lock()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._controller = Controller(self, hostname=self.host, port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd handler hook
        with self._lock:
            if self.refuse:
                return self.refuse.pop(0)
            msg = message_from_bytes(envelope.content, policy=policy.default)
            item = {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(msg["Subject"]),
                "body": msg.get_body(preferencelist=("plain",)).get_content(),
                "raw": envelope.content,
            }
            self.messages.append(item)
            if self.outbox is not None:
                self.outbox.mkdir(parents=True, exist_ok=True)
                (self.outbox / f"mail-{len(self.messages):06d}.eml").write_bytes(envelope.content)
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


class HttpSink:
    """An HTTP receiver on 127.0.0.1 for POSTed JSON (the SMS gateway interface, webhooks). Records every
    request with whether its X-Zhida-Signature checks out against ``secrets`` (one is enough); answers
    200, or the next status in ``respond_with`` (e.g. [500, 500] for a failing gateway)."""

    def __init__(self, secrets: list[str] | None = None, journal: Path | None = None) -> None:
        self.secrets = list(secrets or [])
        self.journal = journal
        self.requests: list[dict[str, Any]] = []
        self.respond_with: list[int] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ts = self.headers.get(TIMESTAMP_HEADER, "")
                sig = self.headers.get(SIGNATURE_HEADER, "")
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = None
                with sink._lock:
                    status = sink.respond_with.pop(0) if sink.respond_with else 200
                    signed_with = next((s for s in sink.secrets if verify_signature(s, ts, body, sig)), None)
                    entry = {
                        "path": self.path,
                        "json": payload,
                        "status": status,
                        "signature_ok": signed_with is not None,
                        "signed_with": signed_with,
                    }
                    sink.requests.append(entry)
                    if sink.journal is not None and status < 300:
                        sink.journal.parent.mkdir(parents=True, exist_ok=True)
                        with sink.journal.open("a", encoding="utf-8") as f:
                            f.write(
                                json.dumps({k: entry[k] for k in ("path", "json", "signature_ok")}, ensure_ascii=False)
                                + "\n"
                            )
                out = b'{"accepted": true}' if status < 300 else b'{"accepted": false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args) -> None:  # keep phone numbers out of stderr
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="zhida-http-sink", daemon=True)

    def start(self) -> HttpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class DemoSinks:
    """The running demo sinks; ``settings_overrides`` are the settings that point the channels at them
    (smtp_host, smtp_port, sms_url) and ``webhook_url`` is what to register as demo recipients' webhook."""

    smtp: SmtpSink
    http: HttpSink
    outbox: Path
    settings_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def webhook_url(self) -> str:
        return f"{self.http.url}/webhook"

    @property
    def emails(self) -> list[dict[str, Any]]:
        return self.smtp.messages

    @property
    def sms(self) -> list[dict[str, Any]]:
        return [r for r in self.http.requests if r["path"].startswith("/sms")]

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        return [r for r in self.http.requests if r["path"].startswith("/webhook")]

    def stop(self) -> None:
        self.http.stop()
        self.smtp.stop()


def start_demo_sinks(
    data_dir: Path | str,
    *,
    sms_secret: str,
    webhook_secret: str,
) -> DemoSinks:
    """Start an SMTP sink (mail written to data_dir/outbox/*.eml) and an HTTP sink for SMS and webhooks
    (data_dir/outbox/http.jsonl). Apply ``.settings_overrides`` to the settings the worker uses."""
    outbox = Path(data_dir) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    smtp = SmtpSink(outbox=outbox).start()
    http = HttpSink(secrets=[sms_secret, webhook_secret], journal=outbox / "http.jsonl").start()
    overrides = {
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "sms_url": f"{http.url}/sms",
        "sms_secret": sms_secret,
        "webhook_secret": webhook_secret,
        "webhook_allow_hosts": "127.0.0.1",  # the sinks listen on loopback, which webhooks may not target otherwise
    }
    return DemoSinks(smtp=smtp, http=http, outbox=outbox, settings_overrides=overrides)
