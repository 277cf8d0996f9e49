"""Money is exact: fen/yuan conversions and the ledger's sums, as properties (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.errors import InvalidAmount
from payments.money import fen_to_yuan, format_yuan, round_yuan_to_fen, yuan_to_fen
from payments.service import check_balances, subject_paid, version_balances
from payments.service.ledger import EntryType, Move, post
from tests.conftest import truncate_all

fen = st.integers(min_value=0, max_value=10**15)


@given(fen)
def test_fen_to_yuan_and_back_is_exact(n):
    y = fen_to_yuan(n)
    assert y == Decimal(n) / 100 and y.as_tuple().exponent == -2
    assert yuan_to_fen(y) == n
    assert yuan_to_fen(str(y)) == n
    assert yuan_to_fen(format_yuan(n).replace(",", "")) == n


@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("1e12"), places=4, allow_nan=False))
def test_rounding_is_half_up_once(d):
    f = round_yuan_to_fen(d)
    assert abs(Decimal(f) - d * 100) <= Decimal("0.5")
    if (d * 100) % 1 == Decimal("0.5"):
        assert f == int(d * 100) + 1


@pytest.mark.parametrize("bad", ["1.234", "abc", "NaN", "Infinity", 1.5])
def test_bad_amounts_are_refused_not_rounded(bad):
    with pytest.raises(InvalidAmount):
        yuan_to_fen(bad)


_move = st.tuples(
    st.sampled_from([EntryType.commit, EntryType.payment, EntryType.settlement]),
    st.integers(min_value=1, max_value=10**9),
    st.integers(min_value=0, max_value=3),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_move, min_size=1, max_size=30))
async def test_ledger_journals_balance_and_balances_derive(moves):
    await truncate_all()
    expected = {"budget": 0, "committed": 0, "in_transit": 0, "paid": 0}
    to_post = []
    for i, (kind, amount, subject) in enumerate(moves):
        to_post.append(
            Move(
                kind,
                1,
                amount,
                batch_id=i if kind == EntryType.commit else None,
                payment_id=None if kind == EntryType.commit else i,
                subject_kind="talent",
                subject_id=f"s{subject}",
            )
        )
        debit, credit = {
            "commit": ("committed", "budget"),
            "payment": ("in_transit", "committed"),
            "settlement": ("paid", "in_transit"),
        }[kind.value]
        expected[debit] += amount
        expected[credit] -= amount
    await post(to_post)
    balances = await version_balances(1)
    assert balances == expected and sum(balances.values()) == 0
    paid = sum(a for k, a, _ in moves if k == EntryType.settlement)
    got = 0
    for s in range(4):
        got += sum((await subject_paid("talent", f"s{s}")).values())
    assert got == paid
    check = await check_balances()
    assert not [p for p in check.problems if "does not balance" in p]
