"""The catalog's upkeep: messages extracted from the code and templates with Babel, compared with the zh_CN .po.

Used by tests/app/test_i18n.py (CI fails on a message without its Chinese, or on a catalog that no longer matches
the code) and by scripts/i18n_convert.py (which moves template ``tr("中文", "English")`` pairs into the catalog).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from app.i18n import CATALOG

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "kit", "policies", "eligibility", "payments", "notifications")
# Python marks messages with kit.i18n._l; templates call _, gettext, pgettext, ngettext (Jinja's i18n extension).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}
METHOD_MAP = [("**/piccolo_migrations/**", "ignore"), ("**.py", "python"), ("**.html", "jinja2.ext:babel_extract")]
OPTIONS_MAP = {"**.html": {"newstyle_gettext": "true"}}

STABLE_DATE = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)
Key = tuple[str | None, str]  # (msgctxt, msgid)


@dataclass(frozen=True)
class Found:
    key: Key
    where: str  # path:line of one place it is used


def _msg_key(message: str | tuple, context: str | None) -> Key | None:
    msgid = message[0] if isinstance(message, tuple) else message
    return (context, msgid) if msgid else None


def extract(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[Key, str]:
    """Every message the code and templates under ``root/<package>`` ask for, with one place that asks for it."""
    found: dict[Key, str] = {}
    for package in packages:
        base = root / package
        if not base.is_dir():
            continue
        for filename, lineno, message, _comments, context in extract_from_dir(
            base, METHOD_MAP, OPTIONS_MAP, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True
        ):
            key = _msg_key(message, context)
            if key is not None:
                found.setdefault(key, f"{package}/{filename}:{lineno}")
    return found


def read_catalog(path: Path = CATALOG) -> Catalog:
    if not path.exists():
        return Catalog(locale="zh_CN", domain="messages")
    with path.open("rb") as f:
        return read_po(f, locale="zh_CN")


def write_catalog(catalog: Catalog, path: Path = CATALOG) -> None:
    """Sorted, without source locations: two branches adding messages merge without conflicts on line numbers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A header that does not change from one run to the next (no creation date): nothing to merge there either.
    catalog.project, catalog.version, catalog.copyright_holder = "Zhida", "0.1", "Zhida"
    catalog.language_team = catalog.last_translator = "Zhida <dev@zhida.local>"
    catalog.msgid_bugs_address = "dev@zhida.local"
    catalog.creation_date = catalog.revision_date = STABLE_DATE
    catalog.fuzzy = False
    buf = path.open("wb")
    with buf:
        write_po(buf, catalog, width=0, no_location=True, omit_header=False, sort_output=True, ignore_obsolete=True)


def entries(catalog: Catalog) -> Iterator[tuple[Key, str, bool]]:
    for m in catalog:
        if m.id:
            msgid = m.id[0] if isinstance(m.id, tuple) else m.id
            msgstr = m.string[0] if isinstance(m.string, tuple) else m.string
            yield (m.context, msgid), msgstr or "", m.fuzzy


_PLACEHOLDER = re.compile(r"%\([A-Za-z_0-9]+\)[sd]|\{[A-Za-z_0-9]+(?:![rsa])?(?::[^{}]*)?\}")


def problems(found: dict[Key, str], catalog: Catalog) -> list[str]:
    """What is wrong with the catalog for the messages ``found``: a message without Chinese (missing, empty or
    fuzzy), a translation with a placeholder its msgid lacks, an entry the code no longer asks for."""
    have = {key: (text, fuzzy) for key, text, fuzzy in entries(catalog)}
    out: list[str] = []
    for key, where in sorted(found.items(), key=lambda kv: kv[1]):
        label = f"{key[1]!r}" + (f" (context {key[0]!r})" if key[0] else "")
        text, fuzzy = have.get(key, ("", False))
        if not text:
            out.append(f"{where}: {label} has no zh_CN translation")
        elif fuzzy:
            out.append(f"{where}: {label} has only a fuzzy zh_CN translation")
        elif not set(_PLACEHOLDER.findall(text)) <= set(_PLACEHOLDER.findall(key[1])):
            out.append(f"{where}: {label} and its translation {text!r} have different placeholders")
    for key in sorted(set(have) - set(found), key=lambda k: (k[1], k[0] or "")):
        out.append(f"catalog: {key[1]!r} is no longer used by the code (stale; run scripts/i18n_convert.py)")
    return out


def sync(catalog: Catalog, found: dict[Key, str]) -> tuple[int, int]:
    """Add every extracted message the catalog lacks (untranslated, so the check names it) and drop the entries no
    longer used. Returns (added, dropped)."""
    have = {key for key, _text, _fuzzy in entries(catalog)}
    added = dropped = 0
    for context, msgid in sorted(set(found) - have, key=lambda k: (k[1], k[0] or "")):
        catalog.add(msgid, "", context=context)
        added += 1
    for context, msgid in have - set(found):
        catalog.delete(msgid, context=context)
        dropped += 1
    return added, dropped
