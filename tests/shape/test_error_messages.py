"""Every refusal the domains raise with one of the project's error classes (kit.errors.AppError and its subclasses)
is a catalog message, ``_l("… {name} …")`` with its params as keywords, so a person reads it in their language
(app/i18n.py ``error_text``); ``str(exc)`` stays the English text. An f-string or a plain string is found here by
reading the source (ast), not by running it.

ALLOWED lists the few that never reach a person, each with its reason.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

from app.i18n import error_text
from kit.errors import AppError
from kit.i18n import _l
from kit.paging import Sorts
from payments.adapters.base import BankRateLimited

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("kit", "payments", "notifications", "policies", "eligibility")

# (path, the message's first words): why no person reads it.
ALLOWED: dict[tuple[str, str], str] = {}


def _sources() -> list[pathlib.Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if "piccolo_migrations" not in p.parts]


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _error_classes(trees: list[ast.Module]) -> set[str]:
    """The names of AppError and of every class that (transitively, by name) derives from it."""
    bases: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(_base_name(b) for b in node.bases)
    found = {"AppError"}
    grew = True
    while grew:
        grew = False
        for name, of in bases.items():
            if name not in found and of & found:
                found.add(name)
                grew = True
    return found


def _is_catalog(arg: ast.expr) -> bool:
    return isinstance(arg, ast.Call) and _base_name(arg.func) == "_l"


def _plain_messages() -> list[str]:
    trees = {p: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in _sources()}
    classes = _error_classes(list(trees.values()))
    found = []
    for path, tree in trees.items():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            call = node.exc
            if _base_name(call.func) not in classes:
                continue
            message = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "message"), None)
            if message is None or _is_catalog(message):
                continue
            if isinstance(message, ast.Name | ast.Attribute | ast.Subscript | ast.List | ast.ListComp):
                # A message made elsewhere (a variable), or a list of problems (PackRefused, ProfileInvalid: each
                # problem is rendered on its own): not a text written here.
                continue
            text = ast.unparse(message)
            if any(rel == p and text.lstrip("f'\"").startswith(w) for (p, w) in ALLOWED):
                continue
            found.append(f"{rel}:{node.lineno}: {_base_name(call.func)}({text[:100]})")
    return found


def test_the_scan_sees_the_project_error_classes():
    classes = _error_classes([ast.parse(p.read_text(encoding="utf-8")) for p in _sources()])
    assert {"AppError", "NotFound", "BankTransient", "ChannelError", "PackRefused", "RuleInvalid"} <= classes
    assert "NotCompilable" not in classes  # an internal signal of the SQL compiler, not an AppError


def test_no_domain_error_is_raised_with_a_plain_string():
    found = _plain_messages()
    assert not found, f"{len(found)} raise site(s) pass a plain string, not _l(...) with params:\n" + "\n".join(found)


def test_every_allowed_entry_still_exists():
    texts = {
        (p.relative_to(ROOT).as_posix(), ast.unparse(n.exc.args[0]).lstrip("f'\""))
        for p in _sources()
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call) and n.exc.args
    }
    for path, words in ALLOWED:
        assert any(p == path and t.startswith(words) for p, t in texts), (path, words)


def test_a_converted_refusal_reads_in_chinese_and_stays_english_for_the_cli():
    with pytest.raises(AppError) as caught:
        Sorts(keys={"name": "name", "id": "id"}, default="id").check("bogus")
    assert str(caught.value) == "无法按“bogus”排序，可用：id, name / cannot sort by 'bogus'"
    assert error_text("zh", caught.value) == "无法按“bogus”排序，可用：id, name"
    limited = BankRateLimited(_l("rate limited by the bank, retry after {seconds:g} s"), 2.5, seconds=2.5)
    assert str(limited) == "rate limited by the bank, retry after 2.5 s"
    assert error_text("zh", limited) == "银行限流，请 2.5 秒后重试"


def test_every_placeholder_of_a_raised_catalog_message_is_given_and_none_is_reserved():
    """``status`` and ``detail`` are AppError's own arguments: a placeholder of that name would never be filled."""
    import string

    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in _sources()}
    classes = _error_classes(list(trees.values()))
    bad = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            call = node.exc
            if _base_name(call.func) not in classes or not call.args or not _is_catalog(call.args[0]):
                continue
            msg = call.args[0].args[0] if call.args[0].args else None
            if not isinstance(msg, ast.Constant) or not isinstance(msg.value, str):
                continue
            fields = {f for _, f, _, _ in string.Formatter().parse(msg.value) if f}
            given = {k.arg for k in call.keywords if k.arg}
            if any(k.arg is None for k in call.keywords):
                continue  # **params: checked at run time
            if fields & {"status", "detail"} or not fields <= given:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {sorted(fields - given)} {sorted(fields)}")
    assert not bad, "\n".join(bad)
