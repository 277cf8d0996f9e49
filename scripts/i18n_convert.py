#!/usr/bin/env python3
"""Moves template ``tr("中文", "English")`` pairs into the catalog: the call becomes ``_("English")`` and the pair a
zh_CN entry of app/locale/zh_CN/LC_MESSAGES/messages.po. Idempotent: run it again after a merge brings new tr()
calls. Then the catalog is synced with what Babel extracts from the code (new messages added untranslated, unused
ones dropped), so tests/app/test_i18n.py names whatever still lacks Chinese.

Only literal pairs are converted; a tr() built at run time (``tr(*labels[s])``, ``tr(a ~ x, b ~ x)``) stays as it is.
Where one English text stands for two Chinese ones ("Status": 状态 and 进度), the most used pair keeps the plain
msgid and each other one becomes ``pgettext("进度", "Status")``: its Chinese is its context, so the choice is
deterministic and stays put when the converter runs again.

    PYTHONPATH=. .venv/bin/python scripts/i18n_convert.py           # convert and sync
    PYTHONPATH=. .venv/bin/python scripts/i18n_convert.py --check   # exit 1 if a literal tr() is left or the
                                                                      catalog is incomplete (what CI checks)
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.i18n_catalog import entries, extract, problems, read_catalog, sync, write_catalog  # noqa: E402

TEMPLATES = ROOT / "app" / "templates"
_LIT = r'"(?:[^"\\]|\\.)*"|' + r"'(?:[^'\\]|\\.)*'"
TR_CALL = re.compile(rf"(?<![\w.])tr\(\s*({_LIT})\s*,\s*({_LIT})\s*\)", re.S)


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a Jinja string literal (double quotes, backslash escapes)


def _pairs(paths: list[Path]) -> list[tuple[Path, re.Match, str, str]]:
    out = []
    for path in paths:
        for m in TR_CALL.finditer(path.read_text(encoding="utf-8")):
            # newstyle gettext always %-formats: a literal % is %% in msgid and msgstr alike.
            zh, en = (ast.literal_eval(g).replace("%", "%%") for g in m.groups())
            out.append((path, m, zh, en))
    return out


def convert(templates: Path = TEMPLATES) -> tuple[int, int, int]:
    catalog = read_catalog()
    converted = convert_templates(sorted(templates.rglob("*.html")), catalog)
    added, dropped = sync(catalog, extract())
    write_catalog(catalog)
    return converted, added, dropped


def convert_templates(paths: list[Path], catalog) -> int:
    """Rewrite the literal tr() pairs of ``paths`` in place and add them to ``catalog``; the number converted."""
    plain = {msgid: text for (ctx, msgid), text, _fuzzy in entries(catalog) if ctx is None and text}
    pairs = _pairs(paths)
    by_en: dict[str, Counter[str]] = {}
    for _path, _m, zh, en in pairs:
        by_en.setdefault(en, Counter())[zh] += 1
    for en, counts in by_en.items():
        if en not in plain:
            plain[en] = counts.most_common(1)[0][0]  # most used, then first seen
    edits: dict[Path, list[tuple[int, int, str]]] = {}
    for path, m, zh, en in pairs:
        if plain.get(en) == zh:
            call = f"_({_literal(en)})"
            context = None
        else:
            context = zh.replace("%%", "%")
            call = f"pgettext({_literal(context)}, {_literal(en)})"
        catalog.add(en, zh, context=context)
        edits.setdefault(path, []).append((m.start(), m.end(), call))
    for path, spans in edits.items():
        text = path.read_text(encoding="utf-8")
        for start, end, call in sorted(spans, reverse=True):
            text = text[:start] + call + text[end:]
        path.write_text(text, encoding="utf-8")
    return len(pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is left to do")
    args = parser.parse_args()
    if args.check:
        left = _pairs(sorted(TEMPLATES.rglob("*.html")))
        found = problems(extract(), read_catalog())
        for path, _m, _zh, en in left:
            print(f"{path.relative_to(ROOT)}: tr(…, {en!r}) is not converted yet")
        for line in found:
            print(line)
        return 1 if left or found else 0
    converted, added, dropped = convert()
    print(f"{converted} tr() pairs moved into the catalog; {added} messages added untranslated; {dropped} dropped")
    found = problems(extract(), read_catalog())
    for line in found or ["catalog complete"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
