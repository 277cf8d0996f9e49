"""The profile fields of each subject kind (profiles.md): types, labels, enums, and the derived fields."""

from __future__ import annotations

from dataclasses import dataclass

# Re-exported only for app/, which still imports them from here; the domains import kit.time directly.
from kit.time import CHINA, china_today  # noqa: F401
from kit.vocab import SubjectKind

# Field types. "money" is Decimal yuan (fen in storage), "date" a datetime.date, "list" a tuple of str.
STRING, ENUM, INT, MONEY, BOOL, DATE, LIST = "string", "enum", "int", "money", "bool", "date", "list"

# Bounds of the free-text fields, in characters: the longest registered enterprise names are well under 100, a
# bank branch's full name under 60; the bounds leave room and stop a runaway cell.
NAME_MAX, BANK_NAME_MAX, TAG_MAX, TAGS_MAX = 200, 100, 50, 50


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label_zh: str
    label_en: str
    required: bool = True
    choices: tuple[str, ...] = ()
    derived: bool = False
    # The stored fields a derived field is computed from: it is personal when any of them is (age from id_number).
    derived_from: tuple[str, ...] = ()
    # Free text is bounded (a list field: each item): 3.5 M characters of "name" is garbage, not a name.
    max_length: int = 0
    # What a person reads for each enum value: (value, 中文, English), in the order of ``choices``.
    choice_labels: tuple[tuple[str, str, str], ...] = ()

    @property
    def numeric(self) -> bool:
        return self.type in (INT, MONEY)

    def choice_label(self, value: str, lang: str = "zh") -> str:
        """An enum value as people read it ("small" → 小型企业); an unknown value as it is."""
        for v, zh, en in self.choice_labels:
            if v == value:
                return en if lang == "en" else zh
        return value


SCALES = (
    ("large", "大型企业", "large"),
    ("medium", "中型企业", "medium-sized"),
    ("small", "小型企业", "small"),
    ("micro", "微型企业", "micro"),
)
SPECIALIZED = (
    ("none", "未认定", "not recognised"),
    ("provincial", "省级专精特新中小企业", "provincial specialized SME"),
    ("little_giant", "国家级专精特新“小巨人”企业", "national “little giant”"),
)
CREDIT_RATINGS = tuple((g, f"{g}级", f"grade {g}") for g in ("A", "B", "M", "C", "D"))
EDUCATIONS = (
    ("doctor", "博士研究生", "doctorate"),
    ("master", "硕士研究生", "master's degree"),
    ("bachelor", "大学本科", "bachelor's degree"),
    ("college", "大学专科", "college diploma"),
    ("other", "其他学历", "other"),
)
TITLES = (
    ("senior", "正高级职称", "senior title"),
    ("deputy_senior", "副高级职称", "deputy senior title"),
    ("intermediate", "中级职称", "intermediate title"),
    ("junior", "初级职称", "junior title"),
    ("none", "无职称", "no title"),
)


def _choices(labels: tuple[tuple[str, str, str], ...]) -> tuple[str, ...]:
    return tuple(v for v, _, _ in labels)


ENTERPRISE_FIELDS: tuple[Field, ...] = (
    Field("uscc", STRING, "统一社会信用代码", "unified social credit code"),
    Field("name", STRING, "企业名称", "name", max_length=NAME_MAX),
    Field("region_code", STRING, "注册地行政区划代码", "region code"),
    Field("industry_code", STRING, "国民经济行业分类", "industry code"),
    Field("scale", ENUM, "企业规模", "scale", choices=_choices(SCALES), choice_labels=SCALES),
    Field("founded_on", DATE, "成立日期", "founded on"),
    Field("employees", INT, "参保职工人数", "insured employees"),
    Field("revenue", MONEY, "上年度营业收入", "revenue last year"),
    Field("tax_paid", MONEY, "上年度纳税总额", "tax paid last year"),
    Field("rd_expense", MONEY, "上年度研发费用", "R&D expense last year", required=False),
    Field(
        "unemployment_insurance_paid",
        MONEY,
        "上年度实缴失业保险费",
        "unemployment insurance paid last year",
        required=False,
    ),
    Field("new_graduate_hires", INT, "上年度新招用高校毕业生人数", "new graduates hired last year", required=False),
    Field("high_tech", BOOL, "高新技术企业", "high-tech enterprise"),
    Field(
        "specialized",
        ENUM,
        "专精特新",
        "specialized and sophisticated",
        choices=_choices(SPECIALIZED),
        choice_labels=SPECIALIZED,
    ),
    Field(
        "credit_rating",
        ENUM,
        "纳税信用等级",
        "tax credit rating",
        choices=_choices(CREDIT_RATINGS),
        choice_labels=CREDIT_RATINGS,
    ),
    Field("blacklisted", BOOL, "列入严重失信主体名单", "on the serious dishonesty list"),
    Field("tags", LIST, "标签", "tags", required=False, max_length=TAG_MAX),
    Field("bank_name", STRING, "开户行", "bank", required=False, max_length=BANK_NAME_MAX),
    Field("bank_account", STRING, "对公账号", "bank account", required=False),
)

TALENT_FIELDS: tuple[Field, ...] = (
    Field("id_number", STRING, "居民身份证号", "ID number"),
    Field("name", STRING, "姓名", "name", max_length=NAME_MAX),
    Field("region_code", STRING, "工作地行政区划代码", "work region code"),
    Field("education", ENUM, "学历", "education", choices=_choices(EDUCATIONS), choice_labels=EDUCATIONS),
    Field("graduated_on", DATE, "毕业日期", "graduated on", required=False),
    Field("arrived_on", DATE, "首次在本市参保日期", "arrived on"),
    Field("social_insurance_months", INT, "本市连续参保月数", "months of social insurance here"),
    Field("employer_uscc", STRING, "用人单位", "employer", required=False),
    Field(
        "title",
        ENUM,
        "职称",
        "professional title",
        required=False,
        choices=_choices(TITLES),
        choice_labels=TITLES,
    ),
    Field("tags", LIST, "标签", "tags", required=False, max_length=TAG_MAX),
    Field("bank_name", STRING, "开户行", "bank", required=False, max_length=BANK_NAME_MAX),
    Field("bank_account", STRING, "个人账户", "bank account", required=False),
)

DERIVED: dict[str, tuple[Field, ...]] = {
    SubjectKind.ENTERPRISE: (
        Field(
            "years_since_founded", INT, "成立年限", "years since founded", derived=True, derived_from=("founded_on",)
        ),
    ),
    SubjectKind.TALENT: (
        # The birth date is read from the ID number (profiles.md): age is as personal as the number it comes from.
        Field("age", INT, "年龄", "age", derived=True, derived_from=("id_number",)),
        Field(
            "years_since_graduation",
            INT,
            "毕业年限",
            "years since graduation",
            required=False,
            derived=True,
            derived_from=("graduated_on",),
        ),
        Field(
            "months_since_arrival",
            INT,
            "来本市月数",
            "months since arrival",
            derived=True,
            derived_from=("arrived_on",),
        ),
    ),
}

FIELDS: dict[str, tuple[Field, ...]] = {SubjectKind.ENTERPRISE: ENTERPRISE_FIELDS, SubjectKind.TALENT: TALENT_FIELDS}


SUBJECT_ID = {SubjectKind.ENTERPRISE: "uscc", SubjectKind.TALENT: "id_number"}
KINDS: tuple[SubjectKind, ...] = tuple(SubjectKind)
# Fields that identify a person or an account, shown whole only to the owner and finance (DESIGN invariant 7). A count
# of the profiles a rule over them matches would give their values away one comparison at a time, so the policy tools
# (rule editor counts, impact previews) compute none for such a rule.
IDENTIFYING: dict[str, frozenset[str]] = {
    SubjectKind.ENTERPRISE: frozenset({"bank_name", "bank_account"}),
    SubjectKind.TALENT: frozenset({"id_number", "name", "bank_name", "bank_account"}),
}


def _derived_personal(kind: str) -> frozenset[str]:
    return frozenset(f.name for f in DERIVED[kind] if set(f.derived_from) & IDENTIFYING[kind])


# Derived fields inherit the personal flag of what they derive from (age from the ID number's birth date). A count
# over them is coarse (whole years) but moves with the date: the policy tools count such a rule only as of today
# (as_of pinned), never as of a date the author picks, which would bisect the birth day (policies.service.preview).
DERIVED_PERSONAL: dict[str, frozenset[str]] = {k: _derived_personal(k) for k in SubjectKind}
# Every personal name a rule may read: the identifying fields and the fields derived from them.
PERSONAL: dict[str, frozenset[str]] = {k: IDENTIFYING[k] | DERIVED_PERSONAL[k] for k in SubjectKind}


def rule_fields(kind: str) -> dict[str, Field]:
    """Every name a rule of this subject kind may use: the profile fields and the derived ones."""
    return {f.name: f for f in (*FIELDS[kind], *DERIVED[kind])}


def label(kind: str, name: str, lang: str = "zh") -> str:
    f = rule_fields(kind).get(name)
    if f is None:
        return name
    return f.label_zh if lang == "zh" else f.label_en


def whole_years(d1, d2) -> int:
    """Completed years from d1 to d2 (profiles.md)."""
    return (d2.year - d1.year) - (1 if (d2.month, d2.day) < (d1.month, d1.day) else 0)


def whole_months(d1, d2) -> int:
    """Completed months from d1 to d2 (profiles.md)."""
    return 12 * (d2.year - d1.year) + (d2.month - d1.month) - (1 if d2.day < d1.day else 0)


def derived_values(kind: str, profile: dict, as_of) -> dict:
    """The derived fields of a normalized profile as of a date (None where the source date is missing)."""
    if kind == SubjectKind.ENTERPRISE:
        f = profile.get("founded_on")
        return {"years_since_founded": whole_years(f, as_of) if f else None}
    b = profile.get("birth_date")
    g = profile.get("graduated_on")
    a = profile.get("arrived_on")
    return {
        "age": whole_years(b, as_of) if b else None,
        "years_since_graduation": whole_years(g, as_of) if g else None,
        "months_since_arrival": whole_months(a, as_of) if a else None,
    }
