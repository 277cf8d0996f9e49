"""Pack reading (policy-pack.md): every bad case refused with a message naming code, clause, expression, hint."""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pytest

from policies import packs
from policies.errors import PackRefused
from policies.packs import bundled_pack_paths, export_yaml, read_pack, read_pack_text

HEAD = """\
code: T-1
title: 测试政策
issuer: 测试局
subject: talent
mode: auto
effective_from: 2025-01-01
budget: 100000
"""


def refused(text: str) -> PackRefused:
    with pytest.raises(PackRefused) as info:
        read_pack_text(textwrap.dedent(text), "t.yaml")
    return info.value


def one(text: str):
    (content,) = read_pack_text(textwrap.dedent(text), "t.yaml")
    return content


def test_unknown_field_names_clause_expression_position_and_suggestion():
    exc = refused(
        HEAD
        + """\
clauses:
  - code: c1
    when: educaton == "doctor"
    amount: 1
"""
    )
    (p,) = exc.problems
    assert (p.policy_code, p.clause_code, p.field) == ("T-1", "c1", "when")
    assert p.expression == 'educaton == "doctor"'
    assert p.position == 0
    assert "educaton" in p.message and "education" in (p.hint or "")
    assert p.line == 10
    assert "T-1" in exc.message and "c1" in exc.message and "did you mean 'education'" in exc.message


def test_type_mismatch_gives_expected_type():
    (p,) = refused(
        HEAD
        + """\
clauses:
  - code: c1
    when: age >= "30"
    amount: 1
"""
    ).problems
    assert p.clause_code == "c1" and p.expression == 'age >= "30"'
    assert "age" in p.message and "number" in (p.message + (p.hint or ""))


def test_enum_value_outside_lists_allowed_values():
    (p,) = refused(
        HEAD
        + """\
clauses:
  - code: c1
    when: education == "phd"
    amount: 1
"""
    ).problems
    assert "phd" in p.message
    assert "doctor" in p.hint and "bachelor" in p.hint


def test_amount_that_is_not_a_number():
    (p,) = refused(
        HEAD
        + """\
clauses:
  - code: c1
    when: "true"
    amount: '"ten thousand"'
"""
    ).problems
    assert (p.clause_code, p.field) == ("c1", "amount")
    assert "not a number" in p.message


def test_duplicate_clause_code():
    (p,) = refused(
        HEAD
        + """\
clauses:
  - code: c1
    when: age < 30
    amount: 1
  - code: c1
    when: age < 40
    amount: 2
"""
    ).problems
    assert p.clause_code == "c1" and "duplicate clause code 'c1'" in p.message and p.line == 12


def test_unknown_key_suggests_the_right_one():
    (p,) = refused(
        HEAD
        + """\
budgett: 3
clauses:
  - code: c1
    when: age < 30
    amount: 1
"""
    ).problems
    assert "unknown key 'budgett'" in p.message and p.hint == "did you mean 'budget'?" and p.line == 8


def test_failing_own_test_is_refused_with_what_differs():
    (p,) = refused(
        HEAD
        + """\
clauses:
  - code: c1
    when: education == "doctor"
    amount: 5000
tests:
  - name: 博士
    profile: {id_number: "360102198801011233", education: doctor}
    as_of: 2025-06-30
    expect: {eligible: true, clauses: [c1], amount: 6000}
"""
    ).problems
    assert p.policy_code == "T-1" and "own test '博士' fails" in p.message
    assert "amount is 5000.00, expected 6000.00" in p.message


def test_every_problem_of_a_file_is_listed_and_nothing_returned():
    exc = refused("""\
policies:
  - code: A-1
    title: a
    issuer: x
    subject: enterprise
    mode: sometimes
    effective_from: 2025-01-01
    budget: abc
    clauses:
      - code: c1
        when: employes > 10
        amount: 1
  - code: B-2
    title: b
    issuer: x
    subject: talent
    mode: auto
    effective_from: 2025-01-01
    budget: 1
    clauses:
      - code: c1
        when: age < 30
        amount: 1
      - code: c2
        when: age < 40
        amount: tax_paid
""")
    msgs = [(p.policy_code, p.clause_code, p.field) for p in exc.problems]
    assert ("A-1", None, "mode") in msgs
    assert ("A-1", None, "budget") in msgs
    assert ("A-1", "c1", "when") in msgs
    assert ("B-2", "c2", "amount") in msgs
    assert any("employees" in (p.hint or "") for p in exc.problems)


def test_yaml_error_reported_with_line_and_quote_hint():
    (p,) = refused(
        HEAD
        + """\
when: "外贸" in tags
clauses: []
"""
    ).problems
    assert p.line == 8 and "YAML error" in p.message and "block scalar" in p.hint


def test_block_scalar_and_quoted_forms_and_bare_scalars_are_the_same_expressions():
    block = one(
        HEAD
        + """\
when: >-
  "外贸" in tags and age < 40
clauses:
  - code: c1
    when: true
    amount: 12000
"""
    )
    quoted = one(
        HEAD
        + """\
when: '"外贸" in tags and age < 40'
clauses:
  - code: c1
    when: "true"
    amount: "12000"
"""
    )
    assert block == quoted
    assert block.when == '"外贸" in tags and age < 40'
    assert block.clauses[0].when == "true" and block.clauses[0].amount == "12000"


def test_money_is_exact_decimal_yuan():
    c = one(
        HEAD.replace("budget: 100000", "budget: 50000000.10")
        + """\
cap_per_subject: 1234.5
clauses:
  - code: c1
    when: "true"
    amount: 0.1
"""
    )
    assert c.budget == Decimal("50000000.10") and c.cap_per_subject == Decimal("1234.50")
    assert c.clauses[0].amount == "0.1"
    (p,) = refused(
        HEAD.replace("budget: 100000", "budget: 1.234") + "clauses:\n  - {code: c, when: 'true', amount: 1}\n"
    ).problems
    assert p.field == "budget" and "2 decimals" in p.message


def test_empty_file_and_wrong_shape():
    assert "empty" in refused("").problems[0].message
    assert "mapping" in refused("- 1\n- 2\n").problems[0].message


def test_bundled_packs_are_realistic_and_valid():
    paths = bundled_pack_paths()
    contents = [c for p in paths for c in read_pack(p)]
    assert len(contents) >= 10
    assert {c.mode for c in contents} == {"auto", "apply"}
    assert {c.subject for c in contents} == {"enterprise", "talent"}
    groups = [c.exclusive_group for c in contents if c.exclusive_group]
    assert any(groups.count(g) >= 2 for g in groups)
    for c in contents:
        assert c.source and c.tests, c.code
        assert any(t.expect.eligible for t in c.tests) and any(not t.expect.eligible for t in c.tests), c.code


@pytest.mark.parametrize("path", bundled_pack_paths(), ids=lambda p: p.name)
def test_export_of_a_pack_reads_back_identical(path):
    for content in read_pack(path):
        again = read_pack_text(export_yaml(content))
        assert again == [content]


CLAUSE = """\
clauses:
  - code: c1
    when: "true"
    amount: 1000
"""


def test_once_and_top_up_are_read_and_exported_only_when_set():
    plain = one(HEAD + CLAUSE)
    assert (plain.once, plain.top_up) == ("lifetime", False)
    assert "once" not in export_yaml(plain) and "top_up" not in export_yaml(plain)
    set_ = one(HEAD + "once: per_year\ntop_up: true\n" + CLAUSE)
    assert (set_.once, set_.top_up) == ("per_year", True)
    (back,) = read_pack_text(export_yaml(set_), "export.yaml")
    assert back == set_ and "once: per_year" in export_yaml(set_)


def test_bad_once_and_top_up_are_refused_with_the_allowed_values():
    problems = refused(HEAD + "once: per_month\ntop_up: maybe\n" + CLAUSE).problems
    by_field = {p.field: p for p in problems}
    assert "lifetime, per_year, per_version" in by_field["once"].message
    assert "true or false" in by_field["top_up"].message


GUIDE = """\
guide:
  who: 本市注册的企业
  materials: [营业执照, 上年度研发费用专项审计报告]
  processing_days: 15
  where: 智达门户在线申报
  contact: 12345 政务服务便民热线
"""


def test_a_guide_is_read_exported_and_hashed_only_when_set():
    plain = one(HEAD + CLAUSE)
    assert plain.guide is None and "guide" not in export_yaml(plain)
    guided = one(HEAD + GUIDE + CLAUSE)
    assert guided.guide is not None
    assert guided.guide.materials == ["营业执照", "上年度研发费用专项审计报告"]
    assert (guided.guide.who, guided.guide.processing_days) == ("本市注册的企业", 15)
    (back,) = read_pack_text(export_yaml(guided), "export.yaml")
    assert back == guided and "processing_days: 15" in export_yaml(guided)
    assert packs.content_hash(guided) != packs.content_hash(plain)
    # a pack without a guide hashes as it did before guides existed: no "guide" key in the canonical content
    assert packs.content_hash(plain) == packs.content_hash(plain.model_copy(update={"guide": None}))
    partial = one(HEAD + "guide: {who: 所有人才}\n" + CLAUSE)
    assert partial.guide is not None and partial.guide.materials == [] and partial.guide.processing_days is None


def test_a_bad_guide_is_refused_with_every_problem_named():
    bad = """\
guide:
  who: ""
  material: [营业执照]
  materials: 营业执照
  processing_days: 0
"""
    problems = refused(HEAD + bad + CLAUSE).problems
    by_field = {p.field: p for p in problems}
    assert "did you mean 'materials'" in (by_field["guide.material"].hint or "")
    assert "list" in by_field["guide.materials"].message
    assert "1 to 365" in by_field["guide.processing_days"].message
    assert "1 to 500" in by_field["guide.who"].message
    assert by_field["guide.processing_days"].line == 12  # HEAD is 7 lines, then guide:, who, material, materials
    assert "mapping" in refused(HEAD + "guide: 去政务大厅\n" + CLAUSE).problems[0].message


def test_every_bundled_pack_has_a_guide():
    for path in bundled_pack_paths():
        for c in read_pack(path):
            assert c.guide is not None and c.guide.who and c.guide.materials and c.guide.processing_days, c.code
