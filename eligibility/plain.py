"""Plain words for the subject (为什么您符合条件): each condition as a sentence with the subject's own value, the
clause amounts as money, near misses as 还差 …; no field name, rule text, regular expression or clause code.
Officers keep the rule text (explain.py's ``expression`` and ``text``)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from rule_engine import ast as rast

from eligibility.fields import BOOL, DATE, ENUM, LIST, MONEY, Field, rule_fields
from kit.money import format_cny, round_yuan_to_fen

# The unit a whole-number field is counted in: (中文, English).
UNITS = {
    "age": ("岁", " years"),
    "years_since_founded": ("年", " years"),
    "years_since_graduation": ("年", " years"),
    "months_since_arrival": ("个月", " months"),
    "social_insurance_months": ("个月", " months"),
    "employees": ("人", ""),
    "new_graduate_hires": ("人", ""),
}
# Administrative divisions (GB/T 2260) the bundled policies name by prefix; another prefix is read as its digits.
REGIONS = {
    "36": ("江西省", "Jiangxi"),
    "3601": ("南昌市", "Nanchang"),
    "360102": ("南昌市东湖区", "Donghu, Nanchang"),
    "360103": ("南昌市西湖区", "Xihu, Nanchang"),
    "360104": ("南昌市青云谱区", "Qingyunpu, Nanchang"),
    "360105": ("南昌市湾里区", "Wanli, Nanchang"),  # merged into 新建区 in 2019; older records still carry it
    # not a GB/T 2260 code, but the bundled policy packs' sample enterprises and the tests use it
    "360106": ("南昌市（示例区县）", "Nanchang (sample district)"),
    "360111": ("南昌市青山湖区", "Qingshanhu, Nanchang"),
    "360112": ("南昌市新建区", "Xinjian, Nanchang"),
    "360113": ("南昌市红谷滩区", "Honggutan, Nanchang"),
    "360121": ("南昌县", "Nanchang County"),
    "360123": ("南昌市安义县", "Anyi County, Nanchang"),
    "360124": ("南昌市进贤县", "Jinxian County, Nanchang"),
    "3602": ("景德镇市", "Jingdezhen"),
    "360202": ("景德镇市昌江区", "Changjiang, Jingdezhen"),
    "3604": ("九江市", "Jiujiang"),
    "360402": ("九江市濂溪区", "Lianxi, Jiujiang"),
    "360403": ("九江市浔阳区", "Xunyang, Jiujiang"),
    "3605": ("新余市", "Xinyu"),
    "360502": ("新余市渝水区", "Yushui, Xinyu"),
    "3607": ("赣州市", "Ganzhou"),
    "360702": ("赣州市章贡区", "Zhanggong, Ganzhou"),
    "3610": ("抚州市", "Fuzhou (Jiangxi)"),
    "361002": ("抚州市临川区", "Linchuan, Fuzhou"),
}
# Sections of GB/T 4754-2017 (国民经济行业分类 门类).
SECTIONS = {
    "A": ("农、林、牧、渔业", "agriculture"),
    "B": ("采矿业", "mining"),
    "C": ("制造业", "manufacturing"),
    "D": ("电力、热力、燃气及水生产和供应业", "utilities"),
    "E": ("建筑业", "construction"),
    "F": ("批发和零售业", "wholesale and retail"),
    "G": ("交通运输、仓储和邮政业", "transport and storage"),
    "H": ("住宿和餐饮业", "hotels and catering"),
    "I": ("信息传输、软件和信息技术服务业", "information technology"),
    "J": ("金融业", "finance"),
    "K": ("房地产业", "real estate"),
    "L": ("租赁和商务服务业", "leasing and business services"),
    "M": ("科学研究和技术服务业", "research and technical services"),
    "N": ("水利、环境和公共设施管理业", "water, environment and public facilities"),
    "O": ("居民服务、修理和其他服务业", "household and repair services"),
    "P": ("教育", "education"),
    "Q": ("卫生和社会工作", "health and social work"),
    "R": ("文化、体育和娱乐业", "culture, sports and entertainment"),
    "S": ("公共管理、社会保障和社会组织", "public administration"),
    "T": ("国际组织", "international organisations"),
}
_WORDS = {
    # op: (zh number, zh date, en number, en date)
    "ge": ("达到", "不早于", "at least", "on or after"),
    "gt": ("超过", "晚于", "above", "after"),
    "le": ("不超过", "不晚于", "at most", "on or before"),
    "lt": ("低于", "早于", "below", "before"),
    "eq": ("为", "为", "is", "is"),
    "ne": ("不为", "不为", "is not", "is not"),
}
_SIGNS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "eq": "=", "ne": "≠"}
_PREFIX = re.compile(r"^\^([0-9A-Za-z]+)$")


def _zh(lang: str) -> bool:
    return lang != "en"


def yuan_words(amount: Any, lang: str) -> str:
    """An amount of a condition in the units people say: 2.3 亿元, 80 万元, 3,500 元 (¥2.3 hundred million is not
    English: ¥230 million there)."""
    d = Decimal(amount)

    def trim(x: Decimal) -> str:
        text = f"{x.quantize(Decimal('0.01')):,.2f}".rstrip("0").rstrip(".")
        return text

    if _zh(lang):
        if abs(d) >= 100_000_000:
            return f"{trim(d / 100_000_000)} 亿元"
        if abs(d) >= 10_000:
            return f"{trim(d / 10_000)} 万元"
        return f"{trim(d)} 元"
    if abs(d) >= 1_000_000:
        return f"¥{trim(d / 1_000_000)} million"
    return f"¥{trim(d)}"


def field_label(f: Field, lang: str) -> str:
    return f.label_en if lang == "en" else f.label_zh


def value_words(f: Field, v: Any, lang: str) -> str:
    """A profile value as its owner reads it: money in 万元/亿元, enum values by their label, dates as dates."""
    zh = _zh(lang)
    if v is None or v == () or v == []:
        return "无" if zh else "none"
    if f.type == BOOL or isinstance(v, bool):
        return ("是" if v else "否") if zh else ("yes" if v else "no")
    if isinstance(v, dt.datetime):
        v = v.date()
    if isinstance(v, dt.date):
        return v.isoformat()
    if f.type == MONEY:
        return yuan_words(v, lang)
    if f.type == ENUM:
        return f.choice_label(str(v), lang)
    if f.type == LIST:
        return "、".join(str(x) for x in v) if zh else ", ".join(str(x) for x in v)
    if isinstance(v, (int, Decimal)):
        unit = UNITS.get(f.name, ("", ""))
        return f"{v:,} {unit[0]}".rstrip() if zh else f"{v:,}{unit[1]}"
    return str(v)


def _region(prefix: str, lang: str) -> str:
    zh, en = REGIONS.get(prefix, (f"行政区划代码以 {prefix} 开头的地区", f"the area whose code starts {prefix}"))
    return zh if _zh(lang) else en


def _place_label(f: Field, lang: str) -> str:
    if not _zh(lang):
        return "registered in" if f.name == "region_code" and "注册" in f.label_zh else "working in"
    return f.label_zh.replace("行政区划代码", "") or "所在地"


def _comparison(f: Field, op: str, want: Any, have: Any, lang: str) -> tuple[str, str, str]:
    zh = _zh(lang)
    label = field_label(f, lang)
    is_date = f.type == DATE
    words = _WORDS[op]
    word = (words[1] if is_date else words[0]) if zh else (words[3] if is_date else words[2])
    want_text = value_words(f, want, lang)
    have_text = value_words(f, have, lang)
    if f.type == BOOL:
        if zh:
            return (
                f"{label}：{want_text}",
                f"{label}：{have_text}",
                f"还差：{label}需为“{want_text}”，当前为“{have_text}”",
            )
        return (
            f"{label}: {want_text}",
            f"{label}: {have_text}",
            f"still needed: {label}: {want_text}; yours: {have_text}",
        )
    if f.type == ENUM or isinstance(want, str):
        if zh:
            req = f"{label}{word}{want_text}"
            return (
                req,
                (f"{label}为{have_text}" if op == "eq" else f"{label}为{have_text}（不是{want_text}）"),
                (f"还差：{label}需{word}{want_text}，当前为{have_text}"),
            )
        req = f"{label} {word} {want_text}"
        return req, f"{label} is {have_text}", f"still needed: {label} {word} {want_text}; yours is {have_text}"
    if zh:
        return (
            f"{label}{word} {want_text}",
            f"{label} {have_text}，{word} {want_text}",
            f"还差：{label} {_SIGNS[op]} {want_text}，当前 {have_text}",
        )
    return (
        f"{label} {word} {want_text}",
        f"{label} {have_text}, {word} {want_text}",
        f"still needed: {label} {_SIGNS[op]} {want_text}; yours is {have_text}",
    )


def _literal(node: Any) -> Any:
    v = node.value
    return v.date() if isinstance(v, dt.datetime) else v


def phrase(kind: str, node: Any, values: dict, lang: str) -> tuple[str, str, str]:
    """(requirement, sentence when met, 还差 sentence when not) for one condition of ``kind``."""
    zh = _zh(lang)
    fields = rule_fields(kind)

    def field_of(n: Any) -> Field | None:
        return fields.get(n.name) if isinstance(n, rast.SymbolExpression) and n.scope is None else None

    if isinstance(node, rast.ComparisonExpression) and node.type in _WORDS:
        left, right, op = node.left, node.right, node.type
        if field_of(right) and isinstance(left, rast.LiteralExpressionBase):  # 10 <= employees
            left, right = right, left
            op = {"ge": "le", "gt": "lt", "le": "ge", "lt": "gt"}.get(op, op)
        f = field_of(left)
        if f is not None and isinstance(right, rast.LiteralExpressionBase):
            return _comparison(f, op, _literal(right), values.get(f.name), lang)
    if isinstance(node, rast.FuzzyComparisonExpression) and node.type == "eq_fzm":
        f = field_of(node.left)
        if f is not None and isinstance(node.right, rast.StringExpression):
            have = values.get(f.name)
            m = _PREFIX.match(node.right.value)
            if m and f.name == "industry_code":
                zh_name, en_name = SECTIONS.get(m.group(1)[:1], (m.group(1), m.group(1)))
                section = zh_name if zh else en_name
                mine = SECTIONS.get(str(have or "")[:1], ("", ""))[0 if zh else 1]
                if zh:
                    return (
                        f"所属行业为{section}",
                        f"所属行业为{section}（{have}）",
                        f"还差：所属行业需为{section}，当前为{mine or '其他行业'}（{have}）",
                    )
                return (
                    f"the industry is {section}",
                    f"the industry is {section} ({have})",
                    f"still needed: an industry in {section}; yours is {mine or 'another'} ({have})",
                )
            if m and f.name == "region_code":
                place, where = _place_label(f, lang), _region(m.group(1), lang)
                mine = str(have or "")
                mine_name = next((REGIONS[p] for p in (mine, mine[:4], mine[:2]) if p in REGIONS), None)
                mine_text = (mine_name[0 if zh else 1] + f"（{mine}）" if zh else f" ({mine})") if mine_name else mine
                if zh:
                    return f"{place}在{where}", f"{place}在{mine_text}", f"还差：{place}需在{where}，当前为{mine_text}"
                return (
                    f"{place} {where}",
                    f"{place} {mine_text}",
                    f"still needed: {place} {where}; yours is {mine_text}",
                )
            label = field_label(f, lang)
            if zh:
                return f"{label}符合政策规定", f"{label}符合政策规定", f"还差：{label}不符合政策规定"
            return f"{label} as the policy requires", f"{label} as required", f"still needed: {label} as required"
    if isinstance(node, rast.ContainsExpression):
        f = field_of(node.member)
        if f is not None and isinstance(node.container, rast.ArrayExpression):
            sep = "、" if zh else ", "
            items = sep.join(value_words(f, _literal(m), lang) for m in node.container.value if hasattr(m, "value"))
            label, have = field_label(f, lang), value_words(f, values.get(f.name), lang)
            if zh:
                return f"{label}为{items}之一", f"{label}为{have}", f"还差：{label}需为{items}之一，当前为{have}"
            return (
                f"{label} is one of {items}",
                f"{label} is {have}",
                f"still needed: {label} one of {items}; yours is {have}",
            )
        f = field_of(node.container)
        if f is not None and isinstance(node.member, rast.StringExpression):
            tag = node.member.value
            if zh:
                return f"属于“{tag}”", f"属于“{tag}”", f"还差：需属于“{tag}”（政务数据中未登记）"
            return f"listed as “{tag}”", f"listed as “{tag}”", f"still needed: listed as “{tag}” (not in your record)"
    negated = isinstance(node, rast.UnaryExpression) and node.type == "not"
    target = node.right if negated else node
    f = field_of(target)
    if f is not None and f.type == BOOL:
        return _comparison(f, "eq", not negated, values.get(f.name), lang)
    if isinstance(node, rast.BooleanExpression) and node.value is True:
        return ("无其他条件",) * 3 if zh else ("no further condition",) * 3  # type: ignore[return-value]
    if zh:
        return "符合政策规定的其他条件", "符合政策规定的其他条件", "还差：政策规定的一项其他条件未满足"
    return (
        "another condition of the policy",
        "another condition of the policy is met",
        "still needed: another condition",
    )


def missing_words(kind: str, names: list[str], lang: str) -> str:
    fields = rule_fields(kind)
    labels = [field_label(fields[n], lang) if n in fields else "" for n in names]
    labels = [x for x in labels if x]
    if _zh(lang):
        return f"还差：档案中缺少{'、'.join(labels)}的数据" if labels else "还差：档案数据不全"
    return f"still needed: your record has no {', '.join(labels)}" if labels else "still needed: missing data"


def amount_words(kind: str, node: Any, lang: str) -> str:
    """A clause's amount for people: ¥20,000.00, 上年度研发费用的 15%, 每人 ¥1,500.00, or "按政策规定计算"."""
    zh = _zh(lang)
    fields = rule_fields(kind)
    if isinstance(node, rast.FloatExpression):
        return format_cny(round_yuan_to_fen(Decimal(node.value)))
    if isinstance(node, rast.ArithmeticExpression) and node.type == "mul":
        sym, lit = node.left, node.right
        if isinstance(sym, rast.FloatExpression):
            sym, lit = lit, sym
        f = fields.get(sym.name) if isinstance(sym, rast.SymbolExpression) else None
        if f is not None and isinstance(lit, rast.FloatExpression):
            rate = Decimal(lit.value)
            label = field_label(f, lang)
            if f.type == MONEY:
                pct = f"{(rate * 100).normalize():f}%"
                return f"{label}的 {pct}" if zh else f"{pct} of {label}"
            each = format_cny(round_yuan_to_fen(rate))
            return f"按{label}计，每{UNITS.get(f.name, ('', ''))[0] or '个'} {each}" if zh else f"{each} per {label}"
    return "按政策规定的标准计算" if zh else "calculated by the policy's standard"
