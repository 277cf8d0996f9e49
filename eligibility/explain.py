"""Explanations (为什么符合/不符合): each condition of each clause for one subject, in Chinese or English."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from rule_engine import ast as rast

from eligibility import plain as words
from eligibility.fields import MONEY, rule_fields
from eligibility.rules.evaluate import _bool_type, combine, condition, in_effect, to_fen_amount, truth, value
from eligibility.rules.language import parse, rule_values, symbols, unparse
from eligibility.schemas import ClauseExplanation, ConditionExplanation, Explanation, RuleSet
from kit.money import format_cny, round_yuan_to_fen, yuan_to_fen

_OP_TEXT = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "eq": "=", "ne": "≠"}
_T = {
    "zh": {
        "need": "{label}需 {op} {want}，当前 {have}",
        "missing": "缺少{label}",
        "yuan": " 元",
        "yes": "是",
        "no": "否",
        "none": "（空）",
        "not_in_effect": "政策在 {date} 不在有效期内（{start} 至 {end}）",
        "open": "长期",
        "eligible": "符合：{clauses}，金额 {amount} 元",
        "ineligible": "不符合",
        "policy": "总体条件",
        "p_policy": "适用前提",
        "p_eligible": "您符合{clauses}，可获 {amount}（按 {date} 的档案数据判定）。",
        "p_ineligible": "按 {date} 的档案数据，您暂不符合本政策的条件；下面列出还差的条件。",
        "p_not_in_effect": "本政策的有效期为 {start} 至 {end}，{date} 不在有效期内。",
        "p_first": "已满足，但本政策只发放最先满足的一档（{paying}），此档不重复发放。",
        "p_cap": "每个申报主体最多 {cap}。",
        "p_quote": "「{t}」",
    },
    "en": {
        "need": "{label} must be {op} {want}; currently {have}",
        "missing": "{label} is missing",
        "yuan": " yuan",
        "yes": "yes",
        "no": "no",
        "none": "(empty)",
        "not_in_effect": "the policy is not in effect on {date} ({start} to {end})",
        "open": "open-ended",
        "eligible": "eligible: {clauses}, amount {amount} yuan",
        "ineligible": "not eligible",
        "policy": "policy-wide condition",
        "p_policy": "Who the policy is for",
        "p_eligible": "You qualify for {clauses}: {amount} (decided on your record as of {date}).",
        "p_ineligible": "On your record as of {date} you do not qualify yet; what is still needed is listed below.",
        "p_not_in_effect": "The policy is in effect from {start} to {end}; {date} is outside that period.",
        "p_first": "Met, but the policy pays only the first tier you meet ({paying}); this one is not paid as well.",
        "p_cap": "At most {cap} for each recipient.",
        "p_quote": "“{t}”",
    },
}


def money_text(d: Any) -> str:
    d = Decimal(d)
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return f"{d:,.2f}"


def show(kind: str, name: str, v: Any, lang: str) -> str:
    t = _T[lang]
    f = rule_fields(kind).get(name)
    if v is None:
        return t["none"]
    if isinstance(v, bool):
        return t["yes"] if v else t["no"]
    if isinstance(v, (dt.date, dt.datetime)):
        return (v.date() if isinstance(v, dt.datetime) else v).isoformat()
    if isinstance(v, (tuple, list)):
        return ";".join(v) or t["none"]
    if f is not None and f.type == MONEY:
        return money_text(v) + t["yuan"]
    if isinstance(v, (int, Decimal)):
        return money_text(v)
    return str(v)


def leaves(node: Any) -> list:
    """The conditions of a tree split at and/or (a `not` or ternary stays whole)."""
    if isinstance(node, rast.LogicExpression):
        return leaves(node.left) + leaves(node.right)
    return [node]


def _label(kind: str, name: str, lang: str) -> str:
    f = rule_fields(kind).get(name)
    if f is None:
        return name
    return f.label_zh if lang == "zh" else f.label_en


def explain_condition(kind: str, node: Any, values: dict, lang: str) -> ConditionExplanation:
    t = _T[lang]
    names = sorted(symbols(node))
    missing = [n for n in names if values.get(n) is None]
    met = (
        truth(node, values)
        if (isinstance(node, rast.UnaryExpression) or (isinstance(node, rast.TernaryExpression) and _bool_type(node)))
        else condition(node, values)
    )
    shown = {n: show(kind, n, values.get(n), lang) for n in names}
    text = unparse(node)
    distance = None
    if (
        isinstance(node, rast.ComparisonExpression)
        and node.type in _OP_TEXT
        and isinstance(node.left, rast.SymbolExpression)
        and isinstance(node.right, rast.LiteralExpressionBase)
    ):
        name = node.left.name
        f = rule_fields(kind).get(name)
        want = node.right.value
        if f is not None:
            want_text = (
                show(kind, name, want.date() if isinstance(want, dt.datetime) else want, lang)
                if not isinstance(want, str)
                else want
            )
            text = (
                f"{_label(kind, name, lang)}（{name}）{_OP_TEXT[node.type]} {want_text}"
                if lang == "zh"
                else f"{_label(kind, name, lang)} ({name}) {_OP_TEXT[node.type]} {want_text}"
            )
            if met is False or (met is None and not missing):
                distance = t["need"].format(
                    label=_label(kind, name, lang), op=_OP_TEXT[node.type], want=want_text, have=shown.get(name, "")
                )
    else:
        text = _phrase(kind, node, lang) or text
    if missing:
        distance = "；".join(
            t["missing"].format(
                label=f"{_label(kind, n, lang)}（{n}）" if lang == "zh" else f"{_label(kind, n, lang)} ({n})"
            )
            for n in missing
        )
    requirement, met_text, short = words.phrase(kind, node, values, lang)
    if missing:
        short = words.missing_words(kind, missing, lang)
    return ConditionExplanation(
        expression=unparse(node),
        text=text,
        met=met,
        values=shown,
        missing=missing,
        distance=distance,
        requirement=requirement,
        plain=met_text if met else short,
    )


def _phrase(kind: str, node: Any, lang: str) -> str | None:
    """A readable phrase for membership, regex and boolean conditions (None: show the rule text)."""
    zh = lang == "zh"

    def lab(n: Any) -> str | None:
        if isinstance(n, rast.SymbolExpression) and n.name in rule_fields(kind):
            return f"{_label(kind, n.name, lang)}（{n.name}）" if zh else f"{_label(kind, n.name, lang)} ({n.name})"
        return None

    if isinstance(node, rast.ContainsExpression):
        if isinstance(node.container, rast.ArrayExpression) and lab(node.member):
            items = ", ".join(str(getattr(m, "value", "?")) for m in node.container.value)
            return f"{lab(node.member)}为 {items} 之一" if zh else f"{lab(node.member)} is one of {items}"
        if lab(node.container) and isinstance(node.member, rast.StringExpression):
            return (
                f"{lab(node.container)}包含“{node.member.value}”"
                if zh
                else f"{lab(node.container)} include “{node.member.value}”"
            )
    if (
        isinstance(node, rast.FuzzyComparisonExpression)
        and lab(node.left)
        and isinstance(node.right, rast.StringExpression)
    ):
        return f"{lab(node.left)}匹配 {node.right.value}" if zh else f"{lab(node.left)} matches {node.right.value}"
    if isinstance(node, rast.SymbolExpression) and lab(node):
        return f"{lab(node)}为“是”" if zh else f"{lab(node)} is yes"
    if (
        isinstance(node, rast.UnaryExpression)
        and node.type == "not"
        and isinstance(node.right, rast.SymbolExpression)
        and lab(node.right)
    ):
        return f"{lab(node.right)}为“否”" if zh else f"{lab(node.right)} is no"
    return None


def explain_profile(ruleset: RuleSet, subject_id: str, profile: dict, as_of: dt.date, lang: str = "zh") -> Explanation:
    lang = "en" if lang == "en" else "zh"
    t = _T[lang]
    kind = ruleset.subject
    values = rule_values(kind, profile, as_of)
    effective = in_effect(ruleset, as_of)
    policy = None
    policy_ok = True
    if ruleset.when and str(ruleset.when).strip():
        tree = parse(kind, str(ruleset.when))
        policy_ok = truth(tree, values) is True
        policy = ClauseExplanation(
            code=None,
            title=t["p_policy"],
            met=policy_ok,
            conditions=[explain_condition(kind, n, values, lang) for n in leaves(tree)],
        )
    clauses = []
    met_amounts = []
    for cl in ruleset.clauses:
        tree = parse(kind, str(cl.when))
        ok = truth(tree, values) is True
        amount = to_fen_amount(value(parse(kind, str(cl.amount)), values)) if ok else None
        clauses.append(
            ClauseExplanation(
                code=cl.code,
                title=cl.title,
                met=ok,
                amount=amount,
                amount_text=words.amount_words(kind, parse(kind, str(cl.amount)), lang),
                conditions=[explain_condition(kind, n, values, lang) for n in leaves(tree)],
            )
        )
        if ok:
            met_amounts.append((cl.code, amount))
    eligible = effective and policy_ok and bool(met_amounts)
    codes, total = combine(ruleset, met_amounts) if eligible else ([], Decimal("0.00"))
    if not effective:
        summary = t["not_in_effect"].format(
            date=as_of.isoformat(),
            start=ruleset.effective_from.isoformat(),
            end=ruleset.effective_to.isoformat() if ruleset.effective_to else t["open"],
        )
    elif eligible:
        summary = t["eligible"].format(clauses=", ".join(codes), amount=money_text(total))
    else:
        summary = t["ineligible"]
    plain_summary = _plain_summary(ruleset, clauses, codes, total, as_of, effective, eligible, lang)
    return Explanation(
        key=ruleset.key,
        code=ruleset.code,
        subject_id=subject_id,
        as_of=as_of,
        in_effect=effective,
        eligible=eligible,
        policy=policy,
        clauses=clauses,
        amount=total,
        summary=summary,
        plain_summary=plain_summary,
    )


def _plain_summary(
    ruleset: RuleSet,
    clauses: list[ClauseExplanation],
    codes: list[str],
    total: Decimal,
    as_of: dt.date,
    effective: bool,
    eligible: bool,
    lang: str,
) -> str:
    """The outcome in plain words; marks the clauses that pay and says why a met one does not."""
    t = _T[lang]
    paying = [c for c in clauses if c.code in codes]
    for c in clauses:
        c.pays = eligible and c.code in codes
        if c.met and not c.pays and eligible and ruleset.combine == "first" and paying:
            c.note = t["p_first"].format(paying=t["p_quote"].format(t=paying[0].title or paying[0].code))
    if not effective:
        return t["p_not_in_effect"].format(
            date=as_of.isoformat(),
            start=ruleset.effective_from.isoformat(),
            end=ruleset.effective_to.isoformat() if ruleset.effective_to else t["open"],
        )
    if not eligible:
        return t["p_ineligible"].format(date=as_of.isoformat())
    text = t["p_eligible"].format(
        clauses="、".join(t["p_quote"].format(t=c.title or "—") for c in paying)
        if lang == "zh"
        else ", ".join(t["p_quote"].format(t=c.title or "—") for c in paying),
        amount=format_cny(yuan_to_fen(total)),
        date=as_of.isoformat(),
    )
    if ruleset.cap_per_subject is not None and len(paying) > 1:
        text += t["p_cap"].format(cap=format_cny(round_yuan_to_fen(Decimal(ruleset.cap_per_subject))))
    return text


def render_text(ex: Explanation, lang: str = "zh") -> str:
    """The explanation as plain text lines (the `zhida explain` output)."""
    zh = lang != "en"
    mark = {True: "✓", False: "✗", None: "?"}
    lines = [f"{ex.code} {ex.subject_id} {'评估日' if zh else 'as of'} {ex.as_of.isoformat()}: {ex.summary}"]
    blocks = ([ex.policy] if ex.policy else []) + ex.clauses
    for b in blocks:
        head = (
            b.title if b.code is None else f"{'条款' if zh else 'clause'} {b.code}{(' ' + b.title) if b.title else ''}"
        )
        state = ("满足" if b.met else "不满足") if zh else ("met" if b.met else "not met")
        amt = f"  {'金额' if zh else 'amount'} {money_text(b.amount)}" if b.amount is not None else ""
        lines.append(f"[{mark[b.met]}] {head}: {state}{amt}")
        for c in b.conditions:
            vals = ", ".join(f"{k} = {v}" for k, v in c.values.items())
            lines.append(f"    {mark[c.met]} {c.text}    [{c.expression}]{('  ' + vals) if vals else ''}")
            if c.distance and not c.met:
                lines.append(f"        → {c.distance}")
    lines.append(f"{'金额' if zh else 'amount'}: {money_text(ex.amount)}{' 元' if zh else ' yuan'}")
    return "\n".join(lines)


NEAR_MISS_MAX = 2  # a near miss fails at most this many conditions on its nearest way to qualify


def near_miss(ex: Explanation, max_gaps: int = NEAR_MISS_MAX) -> list[str]:
    """The "还差 …" lines of a near miss, or [] when ``ex`` is not one.

    A near miss is a subject that does not qualify for a policy in effect, whose nearest way to qualify fails at
    least one and at most ``max_gaps`` conditions: the unmet (or unknown) conditions of the policy-level ``when``
    plus those of the clause with the fewest unmet ones (a policy without clauses: the ``when`` alone). The lines
    are the explanation's own plain words, as the calculator shows them."""
    if ex.eligible or not ex.in_effect:
        return []
    gaps = [c.plain or c.text for c in (ex.policy.conditions if ex.policy else []) if c.met is not True]
    if ex.clauses:
        nearest = min(
            ([] if cl.met else [c.plain or c.text for c in cl.conditions if c.met is not True] for cl in ex.clauses),
            key=len,
        )
        gaps += nearest
    if not 0 < len(gaps) <= max_gaps:
        return []
    return list(dict.fromkeys(gaps))
