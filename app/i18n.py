"""zh-CN first, English second: the language of a request and the labels shared by the templates."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from kit.masking import mask_id_number
from kit.money import format_cny, round_yuan_to_fen
from kit.time import beijing_text
from kit.vocab import Role

LANGS = ("zh", "en")

ROLE_LABELS: dict[str, tuple[str, str]] = {
    Role.POLICY_OFFICER: ("政策专员", "Policy officer"),
    Role.POLICY_REVIEWER: ("政策审核员", "Policy reviewer"),
    Role.FINANCE_MAKER: ("财政制单员", "Finance maker"),
    Role.FINANCE_CHECKER: ("财政复核员", "Finance checker"),
    Role.AUDITOR: ("审计员", "Auditor"),
    Role.ADMIN: ("系统管理员", "Administrator"),
    Role.ENTERPRISE: ("企业", "Enterprise"),
    Role.TALENT: ("人才", "Talent"),
    "system": ("系统", "System"),  # the platform's own jobs, not a role anyone holds
}


def lang_of(request: Any) -> str:
    lang = request.cookies.get("lang", "zh") if request is not None else "zh"
    return lang if lang in LANGS else "zh"


@pass_context
def tr(ctx: Context, zh: str, en: str) -> str:
    """{{ tr("政策", "Policies") }}: the Chinese text unless the visitor switched to English."""
    return en if lang_of(ctx.get("request")) == "en" else zh


@pass_context
def role_label(ctx: Context, role: str) -> str:
    zh, en = ROLE_LABELS.get(role, (role, role))
    return en if lang_of(ctx.get("request")) == "en" else zh


@pass_context
def beijing(ctx: Context, moment: Any, seconds: bool = False) -> str:
    """{{ p.settled_at | beijing }}: every timestamp a page shows, in Beijing time with its label."""
    return beijing_text(moment, lang_of(ctx.get("request")), seconds=seconds)


def cny(amount: Any) -> str:
    """{{ amount | cny }}: yuan (Decimal, or its JSON text) as ¥300,000.00."""
    if amount is None or amount == "":
        return ""
    try:
        return format_cny(round_yuan_to_fen(Decimal(str(amount).replace(",", ""))))
    except (InvalidOperation, ValueError):
        return str(amount)


def register(env: Environment) -> None:
    env.globals.update(tr=tr, role_label=role_label)
    env.filters["beijing"] = beijing
    env.filters["cny"] = cny
    env.globals["lang_of"] = lang_of
    env.filters["mask_id"] = mask_id_number  # kit/masking's one rule, for pages that show a talent's ID number
