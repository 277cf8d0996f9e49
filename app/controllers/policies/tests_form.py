"""The officer's form for a policy's tests: one block per test (name, date, expected result) whose profile is rows of
(field, value), the field picked from the profile field definitions of eligibility/fields. Read back into the pack's
test shape; the YAML box stays as an alternative (when filled, it is what is saved)."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import FormMultiDict

from eligibility.fields import BOOL, FIELDS, INT, LIST
from policies.schemas import PolicyContent

BLANK_FIELDS = 3  # empty field rows under each test, so a page without JavaScript can add fields too


def field_options() -> dict[str, list[dict[str, str]]]:
    """The fields a test profile may set, per subject kind: name and labels (derived fields are computed, not set)."""
    return {
        str(kind): [{"name": f.name, "zh": f.label_zh, "en": f.label_en, "type": f.type} for f in fields]
        for kind, fields in FIELDS.items()
    }


def _shown(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return "" if v is None else str(v)


def form_tests(content: PolicyContent | None) -> list[dict[str, Any]]:
    """The tests of a version as the form shows them, plus one blank test to fill in."""
    out = []
    for t in content.tests if content else []:
        out.append(
            {
                "name": t.name,
                "as_of": t.as_of.isoformat() if t.as_of else "",
                "eligible": "true" if t.expect.eligible else "false",
                "clauses": ", ".join(t.expect.clauses or []),
                "amount": "" if t.expect.amount is None else str(t.expect.amount),
                "profile": [(k, _shown(v)) for k, v in t.profile.items()],
            }
        )
    out.append({"name": "", "as_of": "", "eligible": "true", "clauses": "", "amount": "", "profile": []})
    return out


def _typed(kind: str, field: str, raw: str) -> Any:
    """A form value as the profile reader takes it: numbers, yes/no and lists typed; the rest (dates, enums, money)
    left as text for eligibility's own validation to read or refuse."""
    f = next((x for x in FIELDS.get(kind, ()) if x.name == field), None)
    if f is None:
        return raw
    if f.type == INT and raw.lstrip("-").isdigit():
        return int(raw)
    if f.type == BOOL:
        return {"true": True, "是": True, "yes": True, "false": False, "否": False, "no": False}.get(raw.lower(), raw)
    if f.type == LIST:
        return [x.strip() for x in raw.replace("；", ",").replace(";", ",").replace("，", ",").split(",") if x.strip()]
    return raw


def tests_from_form(form: FormMultiDict, kind: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the tests in the pack's shape, the values to show again) from the posted test blocks. A block is a test when
    it has a name or any field; its profile rows are those whose ``p_test`` is the block's index."""
    names = form.getall("test_name", [])
    as_ofs = form.getall("test_as_of", [])
    eligibles = form.getall("test_eligible", [])
    clauses = form.getall("test_clauses", [])
    amounts = form.getall("test_amount", [])
    rows: dict[int, list[tuple[str, str]]] = {}
    for i, field, value in zip(form.getall("p_test", []), form.getall("p_field", []), form.getall("p_value", [])):
        if field.strip() and i.strip().isdigit():
            rows.setdefault(int(i), []).append((field.strip(), value.strip()))

    def at(values: list[str], i: int) -> str:
        return values[i].strip() if i < len(values) else ""

    tests, shown = [], []
    for i, name in enumerate(names):
        profile = rows.get(i, [])
        if not name.strip() and not profile:
            continue
        values = {
            "name": name.strip(),
            "as_of": at(as_ofs, i),
            "eligible": at(eligibles, i) or "true",
            "clauses": at(clauses, i),
            "amount": at(amounts, i),
            "profile": profile,
        }
        shown.append(values)
        expect: dict[str, Any] = {"eligible": values["eligible"] == "true"}
        if values["clauses"]:
            expect["clauses"] = [c.strip() for c in values["clauses"].replace("，", ",").split(",") if c.strip()]
        if values["amount"]:
            expect["amount"] = values["amount"]
        test: dict[str, Any] = {
            "name": values["name"],
            "profile": {f: _typed(kind, f, v) for f, v in profile},
            "expect": expect,
        }
        if values["as_of"]:
            test["as_of"] = values["as_of"]
        tests.append(test)
    shown.append({"name": "", "as_of": "", "eligible": "true", "clauses": "", "amount": "", "profile": []})
    return tests, shown
