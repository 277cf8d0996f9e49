"""Rendering of notices from the per-kind templates in templates/<locale>/<kind>.txt (zh-CN and English).

A template file has three sections, each introduced by a line ``--- title``, ``--- body`` or ``--- sms``.
Templates are ours and trusted; the context is data (it is never evaluated), rendered in a sandboxed
Jinja environment with StrictUndefined so a missing field is refused up front instead of showing blank.
Personal data in the context is masked before rendering (masking.mask_context).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from kit.i18n import _l
from kit.masking import mask_account, mask_context, mask_id_number, mask_phone
from kit.time import beijing_text
from notifications.errors import ContextIncomplete, UnknownNoticeKind

TEMPLATE_DIR = Path(__file__).parent / "templates"
LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"

# The notice kinds and the context fields each one needs (optional fields are documented in
# docs/notifications.md); a caller that omits one gets ContextIncomplete before anything is stored.
KINDS: dict[str, tuple[str, ...]] = {
    "matched_auto": ("policy_title", "amount", "link"),
    "matched_apply": ("policy_title", "link"),
    "application_received": ("policy_title", "application_no", "link"),
    "application_approved": ("policy_title", "amount", "link"),
    "application_rejected": ("policy_title", "reason", "link"),
    "payment_sent": ("policy_title", "amount", "account", "link"),
    "money_arrived": ("policy_title", "amount", "account", "receipt_link"),
    "payment_returned": ("policy_title", "amount", "reason", "account", "link"),
    "objection_answered": ("policy_title", "answer", "link"),
    "entitlement_withdrawn": ("policy_title", "amount", "reason", "link"),
    # 政策解读 to a near miss that opted in: "you do NOT qualify yet; still needed: …"
    "policy_reading": ("policy_title", "missing", "link"),
}

_SECTION = re.compile(r"^--- (title|body|sms)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    sms: str


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(mask_phone=mask_phone, mask_account=mask_account, mask_id_number=mask_id_number)
    env.filters["beijing"] = beijing_text  # the pages' format: "2026-12-02 11:05（北京时间）", ("en") in English
    return env


@lru_cache(maxsize=64)
def _templates(kind: str, locale: str):
    path = TEMPLATE_DIR / locale / f"{kind}.txt"
    text = path.read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    sections = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
    try:
        return {name: _env().from_string(sections[name]) for name in ("title", "body", "sms")}
    except (KeyError, TemplateSyntaxError) as e:  # a broken bundled template is our bug: say which
        raise RuntimeError(f"template {path} is malformed: {e}") from e


def normalise_locale(locale: str | None) -> str:
    if not locale:
        return DEFAULT_LOCALE
    low = locale.lower()
    if low.startswith("en"):
        return "en"
    if low.startswith("zh"):
        return "zh-CN"
    return DEFAULT_LOCALE


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownNoticeKind(
            _l("unknown notice kind {kind}; known kinds: {known}"),
            detail={"kind": kind, "known": list(KINDS)},
            kind=repr(kind),
            known=", ".join(KINDS),
        )


def render(
    kind: str, locale: str | None, context: dict[str, Any], *, masked: bool = False, sms: bool = True
) -> Rendered:
    """The notice's title, body and SMS text in ``locale``; masks ``context`` first unless ``masked``.
    ``sms=False`` leaves the SMS text empty (it is rendered when an SMS is actually sent)."""
    check_kind(kind)
    missing = [f for f in KINDS[kind] if context.get(f) in (None, "")]
    if missing:
        raise ContextIncomplete(
            _l("a {kind} notice needs {missing} in its context"),
            detail={"kind": kind, "missing": missing},
            kind=kind,
            missing=", ".join(missing),
        )
    ctx = dict(context if masked else mask_context(context))
    ctx.setdefault("recipient_name", "")
    tpl = _templates(kind, normalise_locale(locale))
    try:
        title, body = (tpl[n].render(ctx).strip() for n in ("title", "body"))
        sms_text = tpl["sms"].render(ctx).strip() if sms else ""
    except UndefinedError as e:
        raise ContextIncomplete(
            _l("a {kind} notice's context is incomplete: {text}"), kind=kind, text=e.message, detail={"kind": kind}
        ) from e
    body = re.sub(r"\n{3,}", "\n\n", body)
    return Rendered(title=" ".join(title.split()), body=body, sms=" ".join(sms_text.split()))
