"""zh-CN first, English second: the language of a request, the catalogs, and the labels shared by the templates.

Messages are English msgids (the language the Python code, the CLI and the API already speak) with a zh_CN
catalog, app/locale/zh_CN/LC_MESSAGES/messages.po, read at start-up (no compile step). Templates use Jinja's i18n
extension, ``{{ _("Policies") }}``, ``{{ pgettext("进度", "Status") }}`` where one English word has two Chinese
renderings; the old ``tr("中文", "English")`` still renders (scripts/i18n_convert.py turns it into ``_``).
tests/app/test_i18n.py fails on a message without its zh_CN text (app/i18n_catalog.py).
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from kit.errors import AppError
from kit.i18n import AnyOf, FieldReasons, Msg, RequestProblems, _l
from kit.masking import mask_id_number, mask_username
from kit.money import format_cny, round_yuan_to_fen
from kit.time import beijing_text
from kit.vocab import Role

LANGS = ("zh", "en")
LOCALE_DIR = Path(__file__).parent / "locale"
CATALOG = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"

ROLE_LABELS: dict[str, tuple[str, str]] = {
    Role.POLICY_OFFICER: ("政策专员", "Policy officer"),
    Role.POLICY_REVIEWER: ("政策审核员", "Policy reviewer"),
    Role.FINANCE_MAKER: ("财政制单员", "Finance maker"),
    Role.FINANCE_CHECKER: ("财政复核员", "Finance checker"),
    Role.AUDITOR: ("审计员", "Auditor"),
    Role.ADMIN: ("系统管理员", "Administrator"),
    Role.HOTLINE: ("12345热线坐席", "Hotline agent"),
    Role.ENTERPRISE: ("企业", "Enterprise"),
    Role.TALENT: ("人才", "Talent"),
    "system": ("系统", "System"),  # the platform's own jobs, not a role anyone holds
}


@functools.cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalog of ``lang``: the msgids themselves in English, app/locale's zh_CN .po (fuzzy entries left out)."""
    if lang != "zh" or not CATALOG.exists():
        return _gettext.NullTranslations()
    with CATALOG.open("rb") as f:
        catalog = read_po(f, locale="zh_CN")
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(mo)


def lang_of(request: Any) -> str:
    """A page's language: the ``lang`` cookie (/lang/zh, /lang/en), Chinese unless the visitor chose English."""
    lang = request.cookies.get("lang", "zh") if request is not None else "zh"
    return lang if lang in LANGS else "zh"


def api_lang_of(request: Any) -> str:
    """The API's language: English (what scripts and the CLI read) unless the ``lang`` cookie or Accept-Language
    asks for Chinese."""
    if request is None:
        return "en"
    if request.cookies.get("lang") in LANGS:
        return request.cookies["lang"]
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"


def gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def pgettext(lang: str, context: str, message: str) -> str:
    return translations(lang).pgettext(context, message)


def role_name(lang: str, role: str) -> str:
    zh, en = ROLE_LABELS.get(role, (role, role))
    return en if lang == "en" else zh


# The names of stored states (a batch's, a payment's, a policy version's): each page module registers its labels.
STATE_LABELS: dict[str, tuple[str, str]] = {}


def register_states(labels: dict[str, tuple[str, str]]) -> None:
    for state, pair in labels.items():
        STATE_LABELS.setdefault(state, pair)


def _shown(lang: str, key: str, value: Any) -> Any:
    """A parameter as the reader sees it: a role by its name (a ``Role``, or a parameter named ``role``/``*_role``),
    a state by its label in Chinese (``state``/``*_state``), a marked message translated, alternatives joined."""
    if isinstance(value, RequestProblems):
        return request_problems(lang, value)
    if isinstance(value, FieldReasons):
        return field_reasons(lang, value)
    if key == "problems" and isinstance(value, str) and ": " in value:
        # FieldReasons kept as its English text (a pack problem's params are text): read back into its pairs
        return field_reasons(lang, [tuple(p.split(": ", 1)) for p in value.split("; ")])
    if isinstance(value, AnyOf):
        return (" or " if lang == "en" else "或").join(str(_shown(lang, key, v)) for v in value)
    if isinstance(value, Role) or (isinstance(value, str) and (key == "role" or key.endswith("_role"))):
        return role_name(lang, value)
    if lang != "en" and isinstance(value, str) and (key == "state" or key.endswith("_state")):
        return STATE_LABELS.get(value, (value, value))[0]
    if isinstance(value, Msg):
        return one_language(lang, gettext(lang, value))
    if lang != "en" and isinstance(value, str) and (key in MESSAGE_PARAMS or key.endswith("_type")):
        return shown(lang, value)  # a message within the message (a type's words, a reason), stored as its English
    if lang != "en" and isinstance(value, str) and key == "channel":
        return CHANNEL_LABELS.get(value, value)
    if isinstance(value, str) and key in PERSON_PARAMS:
        return mask_username(value)  # a portal account's user name is its ID number or USCC: never whole
    return value


# Parameters whose value is itself a catalog message, filled in English (a rule problem's ``{type}``, "this value",
# a refused pattern's ``{problem}``, a subject ``{kind}``): shown through ``shown``, read back into its msgid.
MESSAGE_PARAMS = frozenset({"type", "what", "problem", "kind", "new_kind", "yaml_context"})

# A notice's delivery channels, as the notice page names them.
CHANNEL_LABELS = {"inbox": "站内消息", "email": "电子邮件", "sms": "短信", "webhook": "Webhook"}

# Parameters that name a person's account in messages a person reads (``{name} is {actor_role}``, ``user
# {username!r} exists already``): shown through kit.masking's user-name rule.
PERSON_PARAMS = frozenset({"name", "username", "who", "actor", "maker", "checker", "user"})

_CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def one_language(lang: str, text: str) -> str:
    """Of an old two-language message ("用户名或密码错误 / wrong user name or password") the side in ``lang``."""
    parts = text.split(" / ")
    if len(parts) < 2:
        return text
    mine = [p for p in parts if bool(_CJK.search(p)) == (lang != "en")]
    return " / ".join(mine) if mine and len(mine) < len(parts) else text


def render(lang: str, message: str, params: dict[str, Any] | None = None) -> str:
    """``message`` (an English msgid) in ``lang``, its ``str.format`` fields filled with ``params``."""
    text = one_language(lang, gettext(lang, message))
    return text.format(**{k: _shown(lang, k, v) for k, v in params.items()}) if params else text


def field_reasons(lang: str, problems: Any, kind: str | None = None) -> str:
    """A refused profile's (field, reason) pairs in ``lang``: each field by its label (eligibility.fields), each reason
    from the catalog (a stored English sentence read back into its msgid)."""
    from eligibility.fields import FIELDS

    def field(name: str) -> Any:
        kinds = [kind] if kind in FIELDS else list(FIELDS)
        return next((f for k in kinds for f in FIELDS[k] if f.name == name), None)

    def label(name: str) -> str:
        f = field(name)
        return name if f is None else f.label_en if lang == "en" else f.label_zh

    def reason(name: str, text: str) -> str:
        f, parsed = field(name), stored_message(str(text))
        if f is not None and f.choice_labels and parsed is not None and parsed[0] == _ONE_OF:
            # An enum's choices by their labels in the reader's words (eligibility.fields), not the stored codes.
            listed = ("、" if lang != "en" else ", ").join(f.choice_label(v, lang) for v, _zh, _en in f.choice_labels)
            return render(lang, _ONE_OF, {"choices": listed, "value": parsed[1]["value"]})
        return shown(lang, text)

    sep, colon = ("; ", ": ") if lang == "en" else ("；", "：")
    return sep.join(f"{label(str(f))}{colon}{reason(str(f), r)}" for f, r in problems)


_ONE_OF = _l("must be one of {choices}, got {value}")


# Pydantic's own messages for a refused request body (its error types' templates, English), in the catalog.
PYDANTIC_MESSAGES = (
    _l("Field required"),
    _l("Input should be a valid integer"),
    _l("Input should be a valid integer, unable to parse string as an integer"),
    _l("Input should be a valid boolean"),
    _l("Input should be a valid string"),
    _l("Input should be a valid number, unable to parse string as a number"),
    _l("Input should be a valid dictionary"),
    _l("Input should be a valid list"),
    _l("Input should be {expected}"),
    _l("String should have at least {min_length} character"),
    _l("String should have at least {min_length} characters"),
    _l("String should have at most {max_length} characters"),
    _l("Input should be greater than or equal to {ge}"),
    _l("Input should be less than or equal to {le}"),
)


def _catalogued(text: str) -> bool:
    return translations("zh").gettext(text) != text or stored_message(text) is not None


def request_problems(lang: str, problems: Any) -> str:
    """A refused request body's (field, message) pairs in ``lang``: each validator's message from the catalog (it
    names what is wrong in words); a message the catalog does not hold (a library's) says which field is refused."""
    if lang == "en":
        return "; ".join(f"{f}: {r}" if f else str(r) for f, r in problems)
    shown_ = [
        _one_of(lang, str(r))
        or (
            shown(lang, r)
            if _catalogued(str(r))
            else render(lang, _l("the value of {key} is not accepted"), {"key": f})
        )
        for f, r in problems
    ]
    return "；".join(shown_)


_INPUT_SHOULD_BE = "Input should be {expected}"
_QUOTED_CHOICES = re.compile(r"'[^']*'(?:(?:, | or )'[^']*')*")


def _one_of(lang: str, text: str) -> str | None:
    """Pydantic's "Input should be 'a', 'b' or 'c'" (a literal's choices) with its list joined the reader's way:
    'a'、'b' 或 'c' — the choices are the API's own codes, the words around them the reader's."""
    parsed = stored_message(text)
    if parsed is None or parsed[0] != _INPUT_SHOULD_BE or not _QUOTED_CHOICES.fullmatch(parsed[1]["expected"]):
        return None  # not a literal's choices ("Input should be a valid integer" is a message of its own)
    *head, last = re.split(r", | or ", parsed[1]["expected"])
    listed = f"{'、'.join(head)} 或 {last}" if head else last
    return render(lang, _INPUT_SHOULD_BE, {"expected": listed})


def error_text(lang: str, exc: BaseException) -> str:
    """What a person reads for a refusal: an AppError's message in ``lang`` (``str(exc)`` stays English)."""
    problems = getattr(exc, "problems", None)
    if isinstance(exc, AppError) and problems and all(hasattr(p, "hint_template") for p in problems):
        # A refused pack or form (policies.errors.PackRefused): its head and each problem, as describe() writes them.
        head = render(lang, _l("refused, {n} problem(s) (nothing was stored):"), {"n": len(problems)})
        source = getattr(exc, "source", "")
        lines = [f"{source}: {head}" if source else head]
        lines += ["  " + problem_text(lang, p).replace("\n", "\n  ") for p in problems]
        return "\n".join(lines)
    if isinstance(exc, AppError):
        return render(lang, exc.template, exc.params)
    return str(exc)


# The bank's reason codes (contracts/bank-gateway.md) as a person reads them.
BANK_REASONS = {
    "ACCOUNT_NOT_FOUND": _l("the bank has no such account"),
    "ACCOUNT_CLOSED": _l("the account is closed"),
    "NAME_MISMATCH": _l("the account holder's name does not match"),
    "INSUFFICIENT_FUNDS": _l("the paying account has insufficient funds"),
    "INVALID_AMOUNT": _l("the bank refused the amount"),
    "RETURNED": _l("the bank returned the money"),
}


def shown(lang: str, value: Any) -> str:
    """A stored English phrase (a bank reason code, a delivery reason, a verification problem) in ``lang``: its
    catalog entry when it is one, else as it is. No %-formatting: stored text may hold a %."""
    if value is None:
        return ""
    if isinstance(value, AppError):
        return error_text(lang, value)
    text = str(value)
    if text in BANK_REASONS:
        text = BANK_REASONS[text]
    if not text:
        return text
    found = gettext(lang, text)
    if lang == "en" or found != text:
        return one_language(lang, found)
    parsed = stored_message(text)
    if parsed is None:
        return text
    template, params = parsed
    return render(lang, template, {k: v if k in _KEPT_PARAMS else shown(lang, v) for k, v in params.items()})


# A stored sentence's parameters kept as written (numbers, the server's own words) rather than looked up again.
_KEPT_PARAMS = frozenset({"why", "reply", "code", "http_status"})


@functools.cache
def _stored_templates() -> tuple[tuple[re.Pattern[str], str, int], ...]:
    """Every catalog msgid with ``{fields}`` and some words of its own, as a pattern that reads a stored English
    sentence back into the msgid and its parameters (most literal text first: the most specific template wins)."""
    out = []
    for message in translations("zh")._catalog:  # type: ignore[attr-defined]
        if not isinstance(message, str) or "{" not in message:
            continue
        parts = re.split(r"\{(\w+)\}", message)
        names = parts[1::2]
        literal = "".join(parts[0::2])
        if len(set(names)) != len(names) or len(re.sub(r"\W", "", literal)) < 6:
            continue
        rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        out.append((re.compile(rx + r"\Z", re.S), message, len(literal)))
    return tuple(sorted(out, key=lambda t: -t[2]))


@functools.lru_cache(maxsize=4096)
def stored_message(text: str) -> tuple[str, dict[str, str]] | None:
    """A stored English sentence (a delivery's reason: ``attempt 1 of 3: the SMS gateway answered HTTP 503``) read
    back into its catalog msgid and parameters, or None. The stored text stays the English the CLI and API read."""
    for rx, message, _size in _stored_templates():
        m = rx.match(text)
        if m:
            return message, m.groupdict()
    return None


# A pack problem's place, in a Chinese page: the form's own labels (templates/policies/form.html).
PACK_FIELDS_ZH = {
    "code": "编号",
    "title": "名称",
    "issuer": "发文单位",
    "subject": "享受对象",
    "mode": "兑现方式",
    "combine": "条款组合",
    "effective_from": "生效日期",
    "effective_to": "失效日期",
    "budget": "预算",
    "once": "享受次数",
    "top_up": "新版本就高补差",
    "per_subject_cap": "每户上限",
    "exclusive_group": "不重复享受事项组",
    "source": "政策依据",
    "summary": "政策摘要",
    "when": "条件",
    "amount": "金额",
    "clauses": "条款",
    "tests": "测试",
    "profile": "档案",
    "as_of": "测算日期",
    "expect": "预期",
    "name": "名称",
}


def field_label(lang: str, field: str) -> str:
    """A pack problem's field path (``clauses[0].when``) in the reader's language: in Chinese, the form's labels
    (第 1 项条款的条件 reads as 条款第 1 项条件); in English, the pack's own keys."""
    if lang != "zh":
        return field
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", field)
    return "".join(f"第 {int(p[1:-1]) + 1} 项" if p.startswith("[") else PACK_FIELDS_ZH.get(p, p) for p in parts)


def problem_text(lang: str, problem: Any) -> str:
    """A policy pack's or form's problem (policies.schemas.PackProblem) as ``describe()`` writes it, in ``lang``:
    where it is, what is wrong and the hint, each from the catalog with its parameters."""
    where = []
    if problem.policy_code:
        where.append(render(lang, _l("policy {code}"), {"code": problem.policy_code}))
    if problem.clause_code:
        where.append(render(lang, _l("clause {code}"), {"code": problem.clause_code}))
    if problem.field:
        where.append(field_label(lang, problem.field))
    head = ("，" if lang == "zh" else ", ").join(where) or render(lang, _l("pack"))
    if problem.line:
        head = render(lang, _l("line {line}: {where}"), {"line": problem.line, "where": head})
    message = render(lang, problem.template, problem.params) if problem.template else shown(lang, problem.message)
    text = f"{head}{'：' if lang == 'zh' else ': '}{message}"
    if problem.expression is not None:
        text += "\n  " + render(lang, _l("expression: {expression}"), {"expression": problem.expression})
        if problem.position is not None:
            text += "\n  " + render(lang, _l("at position {position}"), {"position": problem.position})
    hint = render(lang, problem.hint_template, problem.hint_params) if problem.hint_template else problem.hint
    if hint:
        text += "\n  " + render(lang, _l("hint: {hint}"), {"hint": shown(lang, hint)})
    return text


def _lang(ctx: Context) -> str:
    return lang_of(ctx.get("request"))


@pass_context
def tr(ctx: Context, zh: str, en: str) -> str:
    """{{ tr("政策", "Policies") }}: the Chinese text unless the visitor switched to English (a pair the converter
    has not yet moved into the catalog, or one built at run time)."""
    return en if _lang(ctx) == "en" else zh


def _per_request(fn: Callable[..., str]) -> Callable[..., str]:
    """``fn(lang, *args)`` as a template callable: the language is the request's (the template context's)."""

    @pass_context
    def call(ctx: Context, *args: Any) -> str:
        return fn(_lang(ctx), *args)

    return call


role_label = _per_request(role_name)


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
    env.add_extension("jinja2.ext.i18n")
    # newstyle: ``_("%(n)s rows", n=3)`` formats and escapes like any other expression.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_per_request(gettext),
        ngettext=_per_request(lambda lang, *args: translations(lang).ngettext(*args)),
        pgettext=_per_request(pgettext),
        npgettext=_per_request(lambda lang, *args: translations(lang).npgettext(*args)),
        newstyle=True,
    )
    translations("zh")  # read the catalog now: a broken .po stops the start, not the first page
    env.globals.update(tr=tr, role_label=role_label, error_text=_per_request(error_text), shown=_per_request(shown))
    env.globals["problem_text"] = _per_request(problem_text)
    env.globals["field_reasons"] = _per_request(field_reasons)
    env.filters["beijing"] = beijing
    env.filters["cny"] = cny
    env.globals["lang_of"] = lang_of
    env.filters["mask_id"] = mask_id_number  # kit/masking's one rule, for pages that show a talent's ID number
    env.filters["mask_user"] = mask_username  # a user name on a page: a portal account's (its ID number / USCC) masked
