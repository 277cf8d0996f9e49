"""A policy generator for benches and tests (issue 19): N valid packs of the bundled packs' shapes, by seed.

Each generated policy is one bundled pack (its subject, conditions, clauses, money formulas, cap, combine rule and
exclusive group) moved to another region of the province (a district, a city or the whole province, weighted the
way a province's policy library is: mostly district and city policies), for some manufacturing policies to
another industry division, with fixed amounts, cap and budget scaled by a whole factor, and a code and title of
its own. The pack's own tests move with it: a test profile inside the old region (industry) is moved inside the new
one, a profile outside stays outside, and expected amounts scale with the fixed amounts, so every generated pack
reads through ``read_pack_text`` and passes its own per-clause tests (tests/policies/test_generate.py checks this).
Exclusive groups stay groups within one region (``NC-HOUSING`` becomes ``NC-HOUSING-3604``, ...).

Deterministic: the same ``n``, ``seed`` and ``live_until`` give byte-identical packs.

    PYTHONPATH=$PWD .venv/bin/python -m policies.packs.generate --n 1000 --seed 1 --out /tmp/packs
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import random
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from policies.packs import bundled_pack_paths

# (prefix, name, weight): the province, its cities, Nanchang's districts and counties (synthetic.py's regions).
REGIONS: tuple[tuple[str, str, int], ...] = (
    ("36", "江西省", 1),
    ("3601", "南昌市", 4),
    ("3602", "景德镇市", 2),
    ("3604", "九江市", 2),
    ("3605", "新余市", 2),
    ("3607", "赣州市", 2),
    ("360102", "东湖区", 2),
    ("360103", "西湖区", 2),
    ("360104", "青云谱区", 2),
    ("360111", "青山湖区", 2),
    ("360112", "新建区", 2),
    ("360113", "红谷滩区", 2),
    ("360121", "南昌县", 2),
    ("360123", "安义县", 1),
    ("360124", "进贤县", 1),
)
# Manufacturing (门类 C) divisions a manufacturing policy may be narrowed to (synthetic.py's industries).
INDUSTRIES: tuple[tuple[str, str], ...] = (("C", "制造业"), ("C3", "装备制造"), ("C2", "化工材料"), ("C39", "电子信息"))
SCALES = (1, 1, 2, 3)
OUTSIDE_REGION = "110105"  # a test profile outside the policy's region stays outside every region above

_REGION_RE = re.compile(r'region_code =~ "\^(\d+)"')
_INDUSTRY_RE = re.compile(r'industry_code =~ "\^([A-Z]\d*)"')


@dataclass(frozen=True)
class GeneratedPack:
    code: str
    base: str  # the bundled pack's code it was made from
    region: str  # the region prefix its condition names
    text: str  # the pack's YAML


def _base_packs() -> list[dict]:
    out = []
    for path in bundled_pack_paths():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.extend(doc["policies"] if "policies" in doc else [doc])
    return out


def _move(value: Any, old: str, new: str, outside: str) -> Any:
    """A test profile's code moved from a pattern ``^old`` to ``^new``: inside stays inside, outside stays out."""
    if not isinstance(value, str):
        return value
    if value.startswith(old):
        moved = new + value[len(new) :] if len(value) >= len(new) else new
        return moved
    return outside if value.startswith(new) else value


def _fixed(amount: Any) -> bool:
    return isinstance(amount, int) and not isinstance(amount, bool)


def _scale_money(value: Any, k: int) -> Any:
    if k == 1 or value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value * k
    return f"{Decimal(str(value)) * k:.2f}"


def _variant(base: dict, i: int, rng: random.Random, live_until: dt.date | None, prefix: str) -> GeneratedPack:
    p = copy.deepcopy(base)
    when = p.get("when") or ""
    old_region = m.group(1) if (m := _REGION_RE.search(when)) else None
    region, region_name, _ = rng.choices(REGIONS, weights=[w for *_, w in REGIONS])[0]
    code = f"{base['code']}-{prefix}{i:05d}"
    p["code"] = code
    p["title"] = f"{base['title']}({region_name}·{prefix}{i:05d})"
    p["summary"] = f"{base.get('summary', '')}(生成的政策:{region_name}版,基于 {base['code']})"
    moves: list[tuple[str, str, str, str]] = []  # (field, old prefix, new prefix, value outside)
    if old_region is not None:
        p["when"] = when.replace(f'region_code =~ "^{old_region}"', f'region_code =~ "^{region}"')
    else:  # a province-wide pack becomes a regional one; its test profiles are all moved inside the region
        p["when"] = f'region_code =~ "^{region}" and ({when})' if when else f'region_code =~ "^{region}"'
        old_region = ""
    moves.append(("region_code", old_region, region, OUTSIDE_REGION))
    if (m := _INDUSTRY_RE.search(p["when"])) is not None:
        old_ind = m.group(1)
        new_ind = rng.choice([c for c, _ in INDUSTRIES if c.startswith(old_ind)] or [old_ind])
        p["when"] = p["when"].replace(f'industry_code =~ "^{old_ind}"', f'industry_code =~ "^{new_ind}"')
        moves.append(("industry_code", old_ind, new_ind, "L7212"))
    if p.get("exclusive_group"):
        p["exclusive_group"] = f"{p['exclusive_group']}-{region}"
    # fixed amounts (never formulas) scale by a whole factor, and with them the cap, the budget and the tests
    k = rng.choice(SCALES) if all(_fixed(c.get("amount")) for c in p["clauses"]) else 1
    for c in p["clauses"]:
        c["amount"] = _scale_money(c["amount"], k)
    if p.get("cap_per_subject") is not None:
        p["cap_per_subject"] = _scale_money(p["cap_per_subject"], k)
    p["budget"] = _scale_money(p["budget"], k * rng.choice((1, 2, 5)))
    if live_until is not None:
        p["effective_to"] = live_until
    for t in p.get("tests", []):
        prof = t["profile"]
        for field, old, new, outside in moves:
            if field in prof:
                prof[field] = _move(prof[field], old, new, outside)
            elif field == "region_code":
                prof[field] = new + "360102"[len(new) :]
        exp = t.get("expect", {})
        if "amount" in exp:
            exp["amount"] = _scale_money(exp["amount"], k)
    text = f"# generated by policies/packs/generate.py from {base['code']}\n" + yaml.safe_dump(
        p, allow_unicode=True, sort_keys=False, width=200
    )
    return GeneratedPack(code=code, base=base["code"], region=region, text=text)


def generate_packs(
    n: int = 1000,
    seed: int = 0,
    *,
    live_until: dt.date | None = None,
    subject: str | None = None,
    prefix: str = "G",
) -> list[GeneratedPack]:
    """``n`` packs of the bundled shapes (round robin over the bundled packs, optionally only ``subject``'s),
    deterministic by ``seed``. ``live_until`` sets every pack's effective_to (benches publish them today)."""
    bases = [b for b in _base_packs() if subject is None or b["subject"] == subject]
    rng = random.Random(f"policies:{seed}")
    return [_variant(bases[i % len(bases)], i, rng, live_until, prefix) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subject", choices=["enterprise", "talent"])
    ap.add_argument("--live-until", type=dt.date.fromisoformat, help="effective_to of every pack (YYYY-MM-DD)")
    ap.add_argument("--out", required=True, type=Path, help="a directory: one CODE.yaml per pack")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for g in generate_packs(args.n, args.seed, live_until=args.live_until, subject=args.subject):
        (args.out / f"{g.code}.yaml").write_text(g.text, encoding="utf-8")
    print(f"{args.n} packs in {args.out}")


if __name__ == "__main__":
    main()
