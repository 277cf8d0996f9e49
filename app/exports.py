"""Downloads of staff lists as CSV or Excel (.xlsx): streamed, masked, safe to open in a spreadsheet.

An export is a list of ``Column`` s and an async iterator of row chunks read from SQL a chunk at a time (the
services' ``*_chunks``); ``export`` answers a StreamingResponse. CSV is UTF-8 with a BOM (Excel then reads Chinese
correctly) and is written as the chunks arrive. An .xlsx is a zip that cannot be written in order, so XlsxWriter
builds it in constant-memory mode (one row in memory, the rest in a temporary file) and the finished file is
streamed from disk and removed. Headers are in the request's language.

Every value of a column that names a personal datum goes through kit/masking's one rule for it (``MASKED``: no
staff role takes a whole ID number or account out of the system in a file; a page shows them masked too), and
every text cell that a spreadsheet would read as a formula (= + - @, a tab or a carriage return first) is
neutralised with a leading apostrophe. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
import xlsxwriter
from litestar import Request
from litestar.response import Stream

from app.i18n import lang_of
from kit.errors import AppError
from kit.masking import mask_account, mask_id_number, mask_name, mask_phone
from kit.time import in_china
from kit.vocab import SubjectKind

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
READ_CHUNK = 64 * 1024


def _subject_id(value: Any, row: Any) -> str:
    """A subject's id: a talent's is an ID number (masked), an enterprise's a USCC (public, shown whole)."""
    kind = _get(row, "subject_kind")
    return mask_id_number(value) if kind != SubjectKind.ENTERPRISE else str(value or "")


def _subject_name(value: Any, row: Any) -> str:
    """A subject's name: a person's (a talent's) masked, an enterprise's whole."""
    return mask_name(value) if _get(row, "subject_kind") == SubjectKind.TALENT else str(value or "")


# The one rule per datum (kit/masking), applied to every role's export.
MASKED: dict[str, Callable[[Any, Any], str]] = {
    "account": lambda v, _row: mask_account(v),
    "id_number": lambda v, _row: mask_id_number(v),
    "phone": lambda v, _row: mask_phone(v),
    "subject_id": _subject_id,
    "subject_name": _subject_name,
}


class BadExport(AppError):
    status = 400


@dataclass(frozen=True)
class Column:
    """One column: the row's key (an attribute or a dict key), its headers, and the datum it holds (MASKED's keys) or
    a function of the row giving the cell."""

    key: str
    zh: str
    en: str
    datum: str | None = None
    value: Callable[[Any], Any] | None = None


SUBJECT_KINDS = {SubjectKind.ENTERPRISE: "企业", SubjectKind.TALENT: "人才"}


def _subject_kind(row: Any) -> str:
    kind = _get(row, "subject_kind")
    return SUBJECT_KINDS.get(kind, str(kind or ""))


def subject_columns() -> list[Column]:
    """The two columns naming a subject in every export: its kind, and its id (a talent's ID number masked)."""
    return [
        Column("subject_kind", "对象类型", "Subject kind", value=_subject_kind),
        Column("subject_id", "证件号码", "ID number / USCC", datum="subject_id"),
    ]


def _get(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, dict) else getattr(row, key, None)


def neutralise(text: str) -> str:
    """A text cell a spreadsheet will not run: '=HYPERLINK(…)' → "'=HYPERLINK(…)"."""
    return "'" + text if text.startswith(FORMULA_START) else text


def cell(column: Column, row: Any) -> Any:
    """The value of one cell: masked if it is a personal datum, text neutralised, numbers and dates as they are."""
    value = column.value(row) if column.value is not None else _get(row, column.key)
    if column.datum is not None:
        value = MASKED[column.datum](value, row)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, Decimal, float)):
        return value
    if isinstance(value, dt.datetime):
        return in_china(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        value = "；".join(str(v) for v in value)
    return neutralise(str(value))


def format_of(value: str) -> str:
    fmt = (value or "csv").strip().lower()
    if fmt not in FORMATS:
        raise BadExport(f"导出格式只能是 csv 或 xlsx / the format is csv or xlsx, not {value[:20]!r}")
    return fmt


async def csv_body(columns: list[Column], chunks: AsyncIterator[list[Any]], lang: str) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.en if lang == "en" else c.zh for c in columns])
    yield "\ufeff".encode() + buffer.getvalue().encode("utf-8")
    async for rows in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([cell(c, r) for c in columns] for r in rows)
        yield buffer.getvalue().encode("utf-8")


async def _xlsx(columns: list[Column], chunks: AsyncIterator[list[Any]], lang: str, sheet: str) -> AsyncIterator[bytes]:
    fd, path = tempfile.mkstemp(prefix="zhida-export-", suffix=".xlsx")
    os.close(fd)
    try:
        book = xlsxwriter.Workbook(
            path,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "tmpdir": os.path.dirname(path),
            },
        )
        bold = book.add_format({"bold": True})
        money = book.add_format({"num_format": "#,##0.00"})
        ws = book.add_worksheet(sheet[:31])
        ws.write_row(0, 0, [c.en if lang == "en" else c.zh for c in columns], bold)
        ws.freeze_panes(1, 0)
        n = 1
        async for rows in chunks:
            for r in rows:
                for j, c in enumerate(columns):
                    v = cell(c, r)
                    if isinstance(v, Decimal):
                        ws.write_number(n, j, float(v), money)
                    elif isinstance(v, (int, float)):
                        ws.write_number(n, j, v)
                    else:
                        ws.write_string(n, j, v)
                n += 1
        await anyio.to_thread.run_sync(book.close)
        with open(path, "rb") as f:
            while block := f.read(READ_CHUNK):
                yield block
    finally:
        os.unlink(path)


def export(
    request: Request,
    fmt: str,
    name: str,
    columns: Iterable[Column],
    chunks: AsyncIterator[list[Any]],
    *,
    sheet: str = "Sheet1",
) -> Stream:
    """The download of ``chunks`` as ``fmt`` (csv | xlsx), named ``name`` + the extension (ASCII)."""
    fmt = format_of(fmt)
    cols, lang = list(columns), lang_of(request)
    body = csv_body(cols, chunks, lang) if fmt == "csv" else _xlsx(cols, chunks, lang, sheet)
    return Stream(
        body,
        media_type=FORMATS[fmt],
        headers={
            "content-disposition": f'attachment; filename="{name}.{fmt}"',
            "cache-control": "private, no-store",
            "x-content-type-options": "nosniff",
        },
    )


async def one_chunk(rows: list[Any]) -> AsyncIterator[list[Any]]:
    """A list already small and in memory (an impact preview's lines) as the chunks ``export`` takes."""
    yield rows
