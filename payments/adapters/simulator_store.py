"""The bank simulator's own record (stdlib sqlite3, one file): transfers taken, money moved, attempts seen.

Safe across threads and processes: WAL, a busy timeout, and every change in a BEGIN IMMEDIATE transaction.
This is what tests and chaos checks compare the platform against ("the bank's own record")."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from kit.db import from_row
from kit.money import fen_to_yuan, yuan_to_fen
from kit.time import CHINA

BANK_TZ = CHINA  # the bank's and the receipts' time: China's

SCHEMA = """
CREATE TABLE IF NOT EXISTS transfers (
    request_id TEXT PRIMARY KEY,
    transfer_id TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    payer_account TEXT NOT NULL,
    payee_account TEXT NOT NULL,
    payee_name TEXT NOT NULL,
    amount TEXT NOT NULL,
    amount_fen INTEGER,
    currency TEXT NOT NULL,
    memo TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    taken_at REAL NOT NULL,
    settle_due_at REAL,
    settled_at REAL,
    reversed_at REAL
);
CREATE INDEX IF NOT EXISTS transfers_due ON transfers (settle_due_at) WHERE status = 'accepted';
CREATE INDEX IF NOT EXISTS transfers_settled ON transfers (settled_at);
CREATE INDEX IF NOT EXISTS transfers_reversed ON transfers (reversed_at);
CREATE TABLE IF NOT EXISTS moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,            -- debit (money left the payer) | reversal (money came back)
    amount_fen INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS moves_request ON moves (request_id);
CREATE TABLE IF NOT EXISTS attempts (request_id TEXT PRIMARY KEY, posts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS payers (account TEXT PRIMARY KEY, debited_fen INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class SimTransfer:
    """One transfer as the bank recorded it."""

    request_id: str
    transfer_id: str
    payer_account: str
    payee_account: str
    payee_name: str
    amount: Decimal | None  # None when the amount sent was not a payable amount (rejected INVALID_AMOUNT)
    amount_text: str  # the amount exactly as sent
    currency: str
    memo: str
    status: str
    reason: str | None
    taken_at: dt.datetime
    settled_at: dt.datetime | None
    reversed_at: dt.datetime | None

    def answer(self) -> dict:
        """The contract's JSON body for this transfer."""
        body = {"request_id": self.request_id, "transfer_id": self.transfer_id, "status": self.status}
        if self.reason:
            body["reason"] = self.reason
        return body


def _at(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, BANK_TZ)


def _when(ts: float | None) -> dt.datetime | None:
    return None if ts is None else _at(ts)


def _row_to_transfer(row: sqlite3.Row) -> SimTransfer:
    return from_row(
        SimTransfer,
        row,
        amount=None if row["amount_fen"] is None else fen_to_yuan(row["amount_fen"]),
        amount_text=row["amount"],
        taken_at=_at(row["taken_at"]),
        settled_at=_when(row["settled_at"]),
        reversed_at=_when(row["reversed_at"]),
    )


def fingerprint(fields: dict) -> str:
    """What makes two bodies "the same" for idempotency: the fields' meaning, not their bytes."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # The simulator must survive its process being killed, not the machine losing power: no fsync needed.
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taking the lock up front, so concurrent processes serialise instead of deadlocking."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SimulatorStore:
    """Operations on the simulator's file. Not thread-safe by itself: the simulator calls it from one thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = connect(self.path)
        self.conn.executescript(SCHEMA)  # IF NOT EXISTS: concurrent starts of several processes are harmless

    def close(self) -> None:
        self.conn.close()

    # -- the operations of the API -------------------------------------------------------------------

    def bump_attempt(self, request_id: str) -> int:
        row = self.conn.execute(
            "INSERT INTO attempts (request_id, posts) VALUES (?, 1) "
            "ON CONFLICT (request_id) DO UPDATE SET posts = posts + 1 RETURNING posts",
            (request_id,),
        ).fetchone()
        return int(row[0])

    def settle_due(self, now: float) -> int:
        cur = self.conn.execute(
            "UPDATE transfers SET status = 'settled', settled_at = settle_due_at "
            "WHERE status = 'accepted' AND settle_due_at <= ?",
            (now,),
        )
        return cur.rowcount

    def get(self, request_id: str) -> SimTransfer | None:
        row = self.conn.execute("SELECT * FROM transfers WHERE request_id = ?", (request_id,)).fetchone()
        return _row_to_transfer(row) if row else None

    def fingerprint_of(self, request_id: str) -> str | None:
        row = self.conn.execute("SELECT fingerprint FROM transfers WHERE request_id = ?", (request_id,)).fetchone()
        return row[0] if row else None

    def debited_fen(self, payer_account: str) -> int:
        row = self.conn.execute("SELECT debited_fen FROM payers WHERE account = ?", (payer_account,)).fetchone()
        return int(row[0]) if row else 0

    def take(
        self,
        fields: dict,
        fp: str,
        amount_fen: int | None,
        status: str,
        reason: str | None,
        now: float,
        settle_due_at: float | None,
    ) -> SimTransfer:
        """Record a new transfer; money moves (one debit) unless it is rejected."""
        transfer_id = "T" + uuid.uuid4().hex[:20].upper()
        settled_at = now if status == "settled" else None
        self.conn.execute(
            "INSERT INTO transfers (request_id, transfer_id, fingerprint, payer_account, payee_account, payee_name, "
            "amount, amount_fen, currency, memo, status, reason, taken_at, settle_due_at, settled_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fields["request_id"],
                transfer_id,
                fp,
                fields["payer_account"],
                fields["payee_account"],
                fields["payee_name"],
                fields["amount"],
                amount_fen,
                fields["currency"],
                fields["memo"],
                status,
                reason,
                now,
                settle_due_at,
                settled_at,
            ),
        )
        if status != "rejected":
            self.conn.execute(
                "INSERT INTO moves (request_id, kind, amount_fen, at) VALUES (?, 'debit', ?, ?)",
                (fields["request_id"], amount_fen, now),
            )
            self.conn.execute(
                "INSERT INTO payers (account, debited_fen) VALUES (?, ?) "
                "ON CONFLICT (account) DO UPDATE SET debited_fen = debited_fen + excluded.debited_fen",
                (fields["payer_account"], amount_fen),
            )
        return SimTransfer(
            request_id=fields["request_id"],
            transfer_id=transfer_id,
            payer_account=fields["payer_account"],
            payee_account=fields["payee_account"],
            payee_name=fields["payee_name"],
            amount=None if amount_fen is None else fen_to_yuan(amount_fen),
            amount_text=fields["amount"],
            currency=fields["currency"],
            memo=fields["memo"],
            status=status,
            reason=reason,
            taken_at=_at(now),
            settled_at=_when(settled_at),
            reversed_at=None,
        )

    def reverse(self, request_id: str, now: float) -> SimTransfer:
        """退汇 after settlement: the money comes back to the payer. KeyError / ValueError when not possible."""
        current = self.get(request_id)
        if current is None:
            raise KeyError(request_id)
        if current.status != "settled" or current.amount is None:
            raise ValueError(f"transfer {request_id} is {current.status}, only a settled transfer can be reversed")
        fen = yuan_to_fen(current.amount)
        self.conn.execute(
            "UPDATE transfers SET status = 'reversed', reversed_at = ? WHERE request_id = ?", (now, request_id)
        )
        self.conn.execute(
            "INSERT INTO moves (request_id, kind, amount_fen, at) VALUES (?, 'reversal', ?, ?)", (request_id, fen, now)
        )
        self.conn.execute(
            "UPDATE payers SET debited_fen = debited_fen - ? WHERE account = ?", (fen, current.payer_account)
        )
        done = self.get(request_id)
        if done is None:  # it was there a moment ago, in this same transaction
            raise KeyError(request_id)
        return done

    def statement_rows(self, day: dt.date) -> list[tuple]:
        """Settlement and reversal events of one bank day, in time order."""
        start = dt.datetime.combine(day, dt.time(), BANK_TZ).timestamp()
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BANK_TZ).timestamp()
        rows = self.conn.execute(
            "SELECT transfer_id, request_id, payee_account, amount, 'settled' AS event, settled_at AS at FROM transfers "
            "WHERE settled_at >= ? AND settled_at < ? "
            "UNION ALL "
            "SELECT transfer_id, request_id, payee_account, amount, 'reversed', reversed_at FROM transfers "
            "WHERE reversed_at >= ? AND reversed_at < ? ORDER BY at, transfer_id",
            (start, end, start, end),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3], r[4], _at(r[5]).isoformat(timespec="seconds")) for r in rows]


# -- inspection, for tests and chaos checks (each call opens its own connection) ---------------------------


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(connect(path)) as conn:
        yield conn


def all_transfers(path: Path) -> list[SimTransfer]:
    with reading(path) as conn:
        return [_row_to_transfer(r) for r in conn.execute("SELECT * FROM transfers ORDER BY taken_at, request_id")]


def one_transfer(path: Path, request_id: str) -> SimTransfer | None:
    with reading(path) as conn:
        row = conn.execute("SELECT * FROM transfers WHERE request_id = ?", (request_id,)).fetchone()
        return _row_to_transfer(row) if row else None


def moves_per_request(path: Path) -> dict[str, int]:
    with reading(path) as conn:
        rows = conn.execute("SELECT request_id, COUNT(*) FROM moves WHERE kind = 'debit' GROUP BY request_id")
        return {r[0]: r[1] for r in rows}


def posts_per_request(path: Path) -> dict[str, int]:
    with reading(path) as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT request_id, posts FROM attempts")}


def net_paid_per_payee(path: Path) -> dict[str, Decimal]:
    """Money that reached each payee account and stayed there (debits less reversals)."""
    with reading(path) as conn:
        rows = conn.execute(
            "SELECT t.payee_account, SUM(CASE m.kind WHEN 'debit' THEN m.amount_fen ELSE -m.amount_fen END) "
            "FROM moves m JOIN transfers t ON t.request_id = m.request_id GROUP BY t.payee_account"
        )
        return {r[0]: fen_to_yuan(r[1]) for r in rows}
