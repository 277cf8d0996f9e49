"""zh-CN first, English second: the language of a request and the labels shared by the templates."""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context

LANGS = ("zh", "en")

ROLE_LABELS = {
    "policy_officer": ("政策专员", "Policy officer"),
    "policy_reviewer": ("政策审核员", "Policy reviewer"),
    "finance_maker": ("财政制单员", "Finance maker"),
    "finance_checker": ("财政复核员", "Finance checker"),
    "auditor": ("审计员", "Auditor"),
    "admin": ("系统管理员", "Administrator"),
    "enterprise": ("企业", "Enterprise"),
    "talent": ("人才", "Talent"),
    "system": ("系统", "System"),
}


def lang_of(request: Any) -> str:
    lang = request.cookies.get("lang", "zh") if request is not None else "zh"
    return lang if lang in LANGS else "zh"


@pass_context
def tr(ctx, zh: str, en: str) -> str:
    """{{ tr("政策", "Policies") }}: the Chinese text unless the visitor switched to English."""
    return en if lang_of(ctx.get("request")) == "en" else zh


@pass_context
def role_label(ctx, role: str) -> str:
    zh, en = ROLE_LABELS.get(role, (role, role))
    return en if lang_of(ctx.get("request")) == "en" else zh


def register(env) -> None:
    env.globals.update(tr=tr, role_label=role_label)
    env.globals["lang_of"] = lang_of
