"""Seeded synthetic profiles (Jiangxi / Nanchang): valid identifiers, realistic distributions; CSV/NDJSON writers."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Iterable, Iterator
from decimal import Decimal

from eligibility.fields import FIELDS
from eligibility.profiles import USCC_ALPHABET, id_check_char, uscc_check_char
from kit.vocab import SubjectKind

# 南昌市辖区县 mostly, some other Jiangxi cities (景德镇, 九江, 赣州) and a few from elsewhere.
REGIONS = (
    ["360102", "360103", "360104", "360105", "360111", "360112", "360113", "360121", "360123", "360124"] * 8
    + ["360202", "360402", "360403", "360702", "360502"] * 2
    + ["110105", "320106", "440305"]
)
INDUSTRIES = (
    ["C3911", "C3971", "C2614", "C3562", "C1713", "C3830", "C2710", "C3670"] * 4
    + ["I6513", "I6410", "I6450", "M7320", "M7520", "F5171", "F5261", "G5181", "E4813", "L7212", "R8710"]
    + ["A0141", "K7010", "H6110", "S9430"]
)
TAGS = ["外贸", "首次升规", "科技型中小企业", "绿色工厂", "小微企业", "数字经济", "跨境电商"]
TALENT_TAGS = ["技能人才", "留学回国", "退役军人", "首次就业", "外贸"]
BANKS = [
    "中国工商银行南昌分行",
    "中国建设银行南昌分行",
    "中国银行江西省分行",
    "中国农业银行南昌分行",
    "江西银行",
    "九江银行南昌分行",
]
REFERENCE = dt.date(2025, 12, 31)


def _uscc(rng: random.Random, region: str) -> str:
    org = "".join(rng.choice(USCC_ALPHABET[:10] + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    body = "91" + region + org + rng.choice("0123456789X".replace("X", "A"))
    return body + uscc_check_char(body)


def _id_number(rng: random.Random, region: str, born: dt.date) -> str:
    body = f"{region}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return body + id_check_char(body)


def _money(x: float) -> Decimal:
    # Generated as a float draw, turned into exact yuan once: never stored as a float.
    return Decimal(str(round(max(x, 0.0), 2))).quantize(Decimal("0.01"))


def _date_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, max((end - start).days, 0)))


def enterprise(rng: random.Random) -> dict:
    region = rng.choice(REGIONS)
    scale = rng.choices(["micro", "small", "medium", "large"], [55, 30, 12, 3])[0]
    emp_range = {"micro": (1, 19), "small": (10, 99), "medium": (80, 999), "large": (800, 12000)}[scale]
    rev_mu = {"micro": 14.5, "small": 16.5, "medium": 18.3, "large": 20.5}[scale]
    revenue = rng.lognormvariate(rev_mu, 0.8)
    rd = revenue * rng.uniform(0.005, 0.08) if rng.random() < 0.45 else None
    tags = [t for t in TAGS if rng.random() < (0.25 if t in ("外贸", "小微企业") else 0.07)]
    if scale in ("micro", "small") and "小微企业" not in tags and rng.random() < 0.3:
        tags.append("小微企业")
    high_tech = rng.random() < 0.09
    if high_tech and rng.random() < 0.35:
        tags.append(rng.choice(["高企首次认定", "高企重新认定"]))
    return {
        "uscc": _uscc(rng, region),
        "name": f"江西{rng.choice(['洪城', '赣江', '豫章', '滕王', '青山', '红谷', '瑶湖', '艾溪'])}"
        f"{rng.choice(['科技', '实业', '电子', '医药', '食品', '新材料', '物流', '软件'])}{rng.randint(1, 99999):05d}有限公司",
        "region_code": region,
        "industry_code": rng.choice(INDUSTRIES),
        "scale": scale,
        "founded_on": _date_between(rng, dt.date(1985, 1, 1), REFERENCE),
        "employees": rng.randint(*emp_range),
        "revenue": _money(revenue),
        "tax_paid": _money(revenue * rng.uniform(0.01, 0.08)),
        "rd_expense": _money(rd) if rd is not None else None,
        "unemployment_insurance_paid": _money(rng.uniform(2000, 400000)) if rng.random() < 0.8 else None,
        "new_graduate_hires": rng.randint(0, 40) if rng.random() < 0.6 else None,
        "high_tech": high_tech,
        "specialized": rng.choices(["none", "provincial", "little_giant"], [88, 10, 2])[0],
        "credit_rating": rng.choices(["A", "B", "M", "C", "D"], [30, 45, 15, 7, 3])[0],
        "blacklisted": rng.random() < 0.01,
        "tags": tuple(tags) or None,
        "bank_name": rng.choice(BANKS),
        "bank_account": "".join(rng.choice("0123456789") for _ in range(rng.choice([16, 17, 19]))),
    }


def talent(rng: random.Random) -> dict:
    region = rng.choice(REGIONS)
    education = rng.choices(["doctor", "master", "bachelor", "college", "other"], [5, 18, 45, 20, 12])[0]
    age = int(min(60, max(20, rng.gauss(33, 8))))
    born = REFERENCE - dt.timedelta(days=age * 365 + rng.randint(0, 364))
    grad_age = {"doctor": 29, "master": 25, "bachelor": 22, "college": 21, "other": 18}[education]
    graduated = None
    if education != "other" or rng.random() < 0.3:
        g = dt.date(min(born.year + grad_age + rng.randint(0, 3), REFERENCE.year), 6, 30)
        graduated = g if g <= REFERENCE else None
    arrived = _date_between(rng, max(born + dt.timedelta(days=18 * 365), dt.date(2012, 1, 1)), REFERENCE)
    months = 12 * (REFERENCE.year - arrived.year) + REFERENCE.month - arrived.month
    return {
        "id_number": _id_number(rng, region, born),
        "name": rng.choice("王李张刘陈杨黄赵吴周徐孙胡朱高林何郭马罗")
        + rng.choice(["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明"])
        + rng.choice(["", "华", "玲", "军", "平", "超"]),
        "region_code": region,
        "education": education,
        "graduated_on": graduated,
        "arrived_on": arrived,
        "social_insurance_months": max(0, months - rng.randint(0, 6)),
        "employer_uscc": _uscc(rng, region) if rng.random() < 0.8 else None,
        "title": rng.choices(
            ["none", "junior", "intermediate", "deputy_senior", "senior", None], [40, 25, 18, 7, 3, 7]
        )[0],
        "tags": tuple(t for t in TALENT_TAGS if rng.random() < 0.08)
        + (("博士后",) if education == "doctor" and rng.random() < 0.25 else ())
        or None,
        "bank_name": rng.choice(BANKS),
        "bank_account": "62" + "".join(rng.choice("0123456789") for _ in range(17)),
    }


def generate(kind: str, n: int, seed: int = 0) -> Iterator[dict]:
    """``n`` valid synthetic profiles of ``kind``, the same for the same seed, with unique subject ids."""
    rng = random.Random(f"{kind}:{seed}")
    make = enterprise if kind == SubjectKind.ENTERPRISE else talent
    key = "uscc" if kind == SubjectKind.ENTERPRISE else "id_number"
    seen: set[str] = set()
    made = 0
    while made < n:
        p = make(rng)
        if p[key] in seen:
            continue
        seen.add(p[key])
        made += 1
        yield p


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return ";".join(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def write_csv(kind: str, profiles: Iterable[dict], path: str) -> int:
    """Write profiles as a contract CSV (header of profiles.md); returns the row count."""
    names = [f.name for f in FIELDS[kind]]
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(names)
        for p in profiles:
            w.writerow([_cell(p.get(k)) for k in names])
            n += 1
    return n


def write_ndjson(kind: str, profiles: Iterable[dict], path: str) -> int:
    names = [f.name for f in FIELDS[kind]]
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for p in profiles:
            obj = {k: (list(p[k]) if isinstance(p.get(k), tuple) else p.get(k)) for k in names if p.get(k) is not None}
            f.write(json.dumps(obj, ensure_ascii=False, default=_cell) + "\n")
            n += 1
    return n
