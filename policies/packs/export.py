"""Writing a stored version back as a YAML pack that loads to the same content."""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

import yaml

from policies.schemas import CONTENT_KEYS, PolicyContent


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):
        # Indent list items under their key, as the contract's examples are written.
        return super().increase_indent(flow, False)


class _Expr(str):
    """A rule expression: a bare number or boolean is written bare (it means the same expression)."""


_BARE = re.compile(r"^(?:-?[0-9]+(?:\.[0-9]+)?|true|false)$")


def _repr_expr(dumper, s: _Expr):
    if _BARE.match(s):
        tag = (
            "tag:yaml.org,2002:bool"
            if s in ("true", "false")
            else ("tag:yaml.org,2002:float" if "." in s else "tag:yaml.org,2002:int")
        )
        return dumper.represent_scalar(tag, str(s))
    return _repr_str(dumper, str(s))


def _repr_decimal(dumper, d: Decimal):
    return dumper.represent_scalar(
        "tag:yaml.org,2002:float" if d != d.to_integral() else "tag:yaml.org,2002:int",
        str(d) if d != d.to_integral() else str(d.quantize(Decimal(1))),
    )


def _repr_str(dumper, s: str):
    if "\n" in s:
        return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", s)


_Dumper.add_representer(Decimal, _repr_decimal)
_Dumper.add_representer(str, _repr_str)
_Dumper.add_representer(_Expr, _repr_expr)


# Optional keys left out when they hold their default: a pack without them reads the same, and the content hash of a
# version stored before the keys existed stays what it was.
_DEFAULTS = {"once": "lifetime", "top_up": False, "publicity_days": 0, "guide": None}


def content_to_dict(content: PolicyContent) -> dict:
    """The pack form of a content, in the contract's key order, without empty optional keys."""
    d: dict[str, Any] = {}
    for k in CONTENT_KEYS:
        v = getattr(content, k)
        if v is None or v == "" or (k in _DEFAULTS and _DEFAULTS[k] == v):
            continue
        if k == "guide":
            d[k] = v.model_dump(exclude_defaults=True)
        else:
            d[k] = _Expr(v) if k == "when" else v
    d["clauses"] = []
    for c in content.clauses:
        item = {"code": c.code, "title": c.title} if c.title else {"code": c.code}
        d["clauses"].append({**item, "when": _Expr(c.when), "amount": _Expr(c.amount)})
    if content.tests:
        tests = []
        for t in content.tests:
            e: dict[str, Any] = {"eligible": t.expect.eligible}
            if t.expect.clauses is not None:
                e["clauses"] = t.expect.clauses
            if t.expect.amount is not None:
                e["amount"] = t.expect.amount
            item: dict[str, Any] = {"name": t.name, "profile": t.profile}
            if t.as_of:
                item["as_of"] = t.as_of
            item["expect"] = e
            tests.append(item)
        d["tests"] = tests
    return d


def export_yaml(content: PolicyContent, header: str = "") -> str:
    """A pack holding this one policy; loading it gives the same content."""
    body = yaml.dump(
        content_to_dict(content),
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    return (f"# {header}\n" if header else "") + body


def content_hash(content: PolicyContent) -> str:
    """What makes two versions identical: the SHA-256 of their canonical content."""
    data = {k: v for k, v in content.model_dump(mode="json").items() if not (k in _DEFAULTS and _DEFAULTS[k] == v)}
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def tests_yaml(content: PolicyContent) -> str:
    """The tests of a version as the YAML list the officer's form edits."""
    tests = content_to_dict(content).get("tests")
    return yaml.dump(tests, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100) if tests else ""
