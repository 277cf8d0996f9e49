"""Text that arrives as bytes (data files, request bodies): strict UTF-8, a BOM allowed, refused naming the line."""

from __future__ import annotations

import codecs

from kit.errors import AppError
from kit.i18n import _l

# What the bytes were, as a refusal names it (a catalog message: app/i18n shows it in the reader's words).
THE_FILE = _l("the file")
THE_REQUEST_BODY = _l("the request body")


class NotUtf8(AppError):
    """Bytes that are not UTF-8 (most often a GBK/GB18030 export): refused, never decoded into U+FFFD."""

    status = 400

    def __init__(self, line: int, bad: bytes, what: str = THE_FILE) -> None:
        self.line = line
        super().__init__(
            _l(
                "{what} is not UTF-8 text: line {line} has the bytes {bytes}, which are not UTF-8 "
                "(a GBK or GB18030 export?); save it as UTF-8 and try again"
            ),
            what=what,
            line=line,
            bytes=bad[:4].hex(" "),
        )


class Utf8Check:
    """Checks a byte stream chunk by chunk (a character may span two chunks) and counts its lines."""

    def __init__(self, what: str = THE_FILE, *, cut_off_end: bool = False) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._newlines = 0
        self._what = what
        # A stream that ends inside a character was cut off (a broken transfer), not written in another encoding:
        # the caller may let its reader reject the last record as cut off, as it would without the lost bytes.
        self._cut_off_end = cut_off_end

    def feed(self, data: bytes, final: bool = False) -> None:
        pending = self._decoder.getstate()[0]  # the start of a character cut off by the previous chunk
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            if final and self._cut_off_end and exc.reason == "unexpected end of data":
                return
            seen = pending + data  # the decoder's error positions count from its pending bytes
            line = self._newlines + seen.count(b"\n", 0, exc.start) + 1
            raise NotUtf8(line, seen[exc.start : max(exc.end, exc.start + 1)], self._what) from None
        self._newlines += data.count(b"\n")


def decode_utf8(data: bytes, what: str = THE_REQUEST_BODY) -> str:
    """``data`` as text (a leading BOM dropped), or NotUtf8 naming the first line that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NotUtf8(line, data[exc.start : max(exc.end, exc.start + 1)], what) from None
    return text[1:] if text.startswith("\ufeff") else text
