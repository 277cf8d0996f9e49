"""Reading profile files into records: strict UTF-8 (and the file's digest), CSV and NDJSON rows, and the refusal
of a file that is not profile data (empty, another encoding, a column that is no field)."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import operator
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from eligibility.errors import EligibilityError, ProfileInvalid
from eligibility.fields import SUBJECT_ID
from eligibility.profiles import field_names, unknown_fields
from kit.i18n import _l
from kit.text import THE_REQUEST_BODY, NotUtf8, Utf8Check, decode_utf8

Records = Iterator[tuple[int, tuple | None, str | None]]


def valid_rows(
    kind: str,
    records: Records,
    reject: Callable[[int, str, str], Any],
    report: Any,
    check: Callable[[Any], tuple],
    *,
    repeats_among_invalid: bool = True,
) -> Iterator[tuple]:
    """(line, *what ``check`` makes of the row) per valid row of ``records``; ``check(raw)`` returns (stored row,
    …) or raises ProfileInvalid. Every other row is rejected (``reject(line, field, reason)``, counted in
    ``report.rejected``), a second row of a subject among them: it is never a silent winner. With
    ``repeats_among_invalid`` an invalid row whose id is valid counts as that subject's row too."""
    id_field = SUBJECT_ID[kind]
    # The line of each subject id met so far. (At about 130 bytes an id, a file of a million profiles holds some
    # 130 MB here.)
    first_line: dict[str, int] = {}

    def repeat(seen: int, line: int) -> str:
        # The reason names lines, not the id: a talent's id is personal data (rejects go to stderr).
        return (
            f"the same {id_field} as line {seen}: a subject may appear once in a file, so this row is not imported "
            f"(keep the right one of lines {seen} and {line})"
        )

    for line, raw, problem in records:
        if problem is not None:
            report.rejected += 1
            reject(line, "", problem)
            continue
        try:
            out = check(raw)
        except ProfileInvalid as exc:
            report.rejected += 1
            problems = exc.problems
            if repeats_among_invalid and problems[0][0] != id_field:  # a valid id (its problem would come first)
                seen = first_line.setdefault(raw[0].strip() if type(raw[0]) is str else str(raw[0]), line)
                if seen != line:
                    problems = [(id_field, repeat(seen, line)), *problems]
            for field, reason in problems:
                reject(line, field, reason)
            continue
        seen = first_line.setdefault(out[0][0], line)
        if seen != line:
            report.rejected += 1
            reject(line, id_field, repeat(seen, line))
            continue
        yield (line, *out)


def in_batches(tag: str, items: Iterable, size: int, reader: Any, report: Any, rejects: list) -> Iterator[tuple]:
    """(tag, up to ``size`` items, the rejects met while they were read, bytes read) per batch in file order, then
    ("end", the file's SHA-256, rows rejected). ``rejects`` is the list the reading appends to: each batch takes
    what it holds."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield tag, batch, rejects[:], reader.bytes_read
            batch = []
            rejects.clear()
    yield tag, batch, rejects[:], reader.bytes_read
    yield "end", reader.sha.hexdigest(), report.rejected


def _cut_off_end(exc: UnicodeError) -> tuple[str, int]:
    # Only a character cut off by the end of the file gets here (HashingReader refused every other byte that is
    # not UTF-8): U+FFFD stands for it, and the cut-off last row is rejected as any cut-off row is.
    if isinstance(exc, UnicodeDecodeError) and exc.reason == "unexpected end of data":
        return "\ufffd", exc.end
    raise exc


codecs.register_error("zhida-cut-off-end", _cut_off_end)


class HashingReader(io.RawIOBase):
    """Wraps a binary file: hashes every byte read and counts them (for the audit digest and progress), and checks
    that it is UTF-8: bytes of another encoding refuse the file naming their line (never names of U+FFFD)."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.bytes_read = 0
        self.utf8 = Utf8Check(cut_off_end=True)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        try:
            self.utf8.feed(data, final=not n)
        except NotUtf8 as exc:
            raise EligibilityError(_l("{text}. Nothing was imported."), text=exc.message, status=exc.status) from None
        self.sha.update(data)
        self.bytes_read += n
        return n


def _refuse_unknown(kind: str, names, where: str) -> None:
    unknown = unknown_fields(kind, names)
    if unknown:
        reasons = "; ".join(reason for _, reason in unknown)
        raise EligibilityError(_l("{where}: {reasons}. Nothing was imported."), where=where, reasons=reasons)


def _csv_rows(text: io.TextIOBase, names: list[str], kind: str, absent: Any = "") -> Records:
    """(line, the row's cells of the fields ``names`` in that order (``absent`` for a column the file lacks), problem)
    for each record; the header is line 1. A record spanning lines (quoted newlines) is reported at the line it
    starts on. An empty file, a header without rows or a column that is no field refuses the file."""
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise EligibilityError(_l("the file is empty: a header row and at least one profile were expected")) from None
    except csv.Error as exc:
        raise EligibilityError(_l("the header row cannot be read: {exc}"), exc=exc) from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    if not any(header):
        raise EligibilityError(_l("line 1 is empty: it must be the header row naming the columns"))
    _refuse_unknown(kind, header, "the header (line 1)")
    position = {h: i for i, h in enumerate(header)}  # a repeated column: its last cell counts
    # One more cell, appended to each record, stands for the fields the file has no column of.
    cells = operator.itemgetter(*[position.get(n, len(header)) for n in names])
    line = reader.line_num + 1
    rows = 0
    while True:
        start = line
        try:
            rec = next(reader)
        except StopIteration:
            if not rows:
                raise EligibilityError(_l("the file has a header row but no profile rows")) from None
            return
        except csv.Error as exc:
            line = reader.line_num + 1
            rows += 1
            yield start, None, f"the row cannot be read as CSV: {exc}"
            continue
        line = reader.line_num + 1
        if not rec or rec == [""]:
            continue
        rows += 1
        if len(rec) != len(header):
            yield start, None, f"has {len(rec)} cells, the header has {len(header)} (a cut-off or broken row)"
            continue
        rec.append(absent)
        yield start, cells(rec), None


# A profile is a few hundred characters; a longer line is refused unread (it would be held in memory whole).
NDJSON_LINE_MAX = 1 << 20


def parse_json(text: str) -> tuple[Any, str | None]:
    """(the value of JSON ``text``, None) or (None, why it is not JSON): numbers with a fraction as Decimal, never
    a float; no exception escapes, whatever the text (deep nesting, a number of 5,000 digits)."""
    try:
        return json.loads(text, parse_float=Decimal), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at character {exc.pos + 1}"
    except ValueError as exc:  # e.g. an integer beyond Python's conversion limit
        return None, f"not valid JSON: {exc}"
    except RecursionError:
        return None, "not valid JSON for a profile: nested too deeply"


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")


def _ndjson_rows(text: io.TextIOBase, names: list[str], kind: str, absent: Any = None) -> Records:
    """(line, the object's values of the fields ``names`` in that order (``absent`` where absent), problem) per line.
    An empty file or a key that is no field refuses the file."""
    known = frozenset(names)
    rows = n = 0
    while line := text.readline(NDJSON_LINE_MAX + 1):
        n += 1
        if len(line) > NDJSON_LINE_MAX and not line.endswith("\n"):
            while line and not line.endswith("\n"):  # skip the rest of the line
                line = text.readline(NDJSON_LINE_MAX)
            rows += 1
            yield n, None, f"the line is longer than {NDJSON_LINE_MAX:,} characters: not a profile"
            continue
        if not line.strip():
            continue
        rows += 1
        obj, problem = parse_json(line)
        if problem is not None:
            yield n, None, problem
            continue
        if not isinstance(obj, dict):
            yield n, None, f"is {_json_kind(obj)}, not a JSON object"
            continue
        if not known.issuperset(obj):
            _refuse_unknown(kind, obj, f"line {n}")
        yield n, tuple(obj.get(name, absent) for name in names), None
    if not rows:
        raise EligibilityError(_l("the file is empty: at least one profile (a JSON object a line) was expected"))


def detect_format(path: str, first_bytes: bytes) -> str:
    if path.lower().endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    if path.lower().endswith(".csv"):
        return "csv"
    return "ndjson" if first_bytes.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def open_records(binary, kind: str, fmt: str, absent: Any = None):
    """(the HashingReader, the records of ``_csv_rows`` or ``_ndjson_rows``); ``absent``: the value of a field the
    file (CSV) or the object (NDJSON) does not carry, by default the format's missing value ("" or None)."""
    reader = HashingReader(binary)
    buffered = io.BufferedReader(reader, buffer_size=1 << 20)
    # HashingReader has refused any byte that is not UTF-8 (naming its line): decoding meets at most a cut-off end.
    text = io.TextIOWrapper(
        buffered, encoding="utf-8-sig", newline="" if fmt == "csv" else None, errors="zhida-cut-off-end"
    )
    if fmt == "csv":
        return reader, _csv_rows(text, field_names(kind), kind, "" if absent is None else absent)
    return reader, _ndjson_rows(text, field_names(kind), kind, absent)


def exchange_rows(kind: str, body: bytes, max_rows: int) -> tuple[list[tuple[int, dict]], list[dict]]:
    """A data-exchange request body (one JSON object or an array of them), read as strictly as a file: (index,
    object) of each profile to upsert, and the rejects (index, field, reason) of the others. A body that is not
    UTF-8 JSON, or holds no profile, is refused (4xx) as a whole."""
    value, problem = parse_json(decode_utf8(body, THE_REQUEST_BODY))
    if problem is not None:
        raise EligibilityError(_l("the request body is {problem}"), problem=problem, status=400)
    if not isinstance(value, (list, dict)):
        raise EligibilityError(
            _l("the request body is {kind}: send a profile or an array of them"), kind=_json_kind(value)
        )
    rows = value if isinstance(value, list) else [value]
    if not rows:
        raise EligibilityError(_l("the request holds no profile"), status=422)
    if len(rows) > max_rows:
        raise EligibilityError(
            _l("at most {max_rows} profiles per request; use the bulk import for more"), max_rows=max_rows, status=413
        )
    id_field = SUBJECT_ID[kind]
    first: dict[str, int] = {}
    good: list[tuple[int, dict]] = []
    rejects: list[dict] = []
    for i, raw in enumerate(rows):
        if not isinstance(raw, dict):
            rejects.append({"index": i, "field": "", "reason": f"is {_json_kind(raw)}, not a JSON object"})
            continue
        unknown = unknown_fields(kind, raw)
        if unknown:
            rejects += [{"index": i, "field": name, "reason": reason} for name, reason in unknown]
            continue
        sid = raw.get(id_field)
        sid = sid.strip() if isinstance(sid, str) else sid
        if isinstance(sid, str) and sid:
            seen = first.setdefault(sid, i)
            if seen != i:
                reason = f"the same {id_field} as profile {seen} of this request: a subject may appear once"
                rejects.append({"index": i, "field": id_field, "reason": reason})
                continue
        good.append((i, raw))
    return good, rejects
