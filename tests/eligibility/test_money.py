"""Profile money in storage: any 2-decimal amount in range is stored as its exact fen and read back as itself;
an amount that is not exact money (a float, a third decimal) is refused, never truncated to a neighbouring fen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from eligibility import store
from eligibility.profiles import STORED_MAX, normalize_profile
from kit.money import InvalidAmount
from tests.eligibility.test_profiles import ENTERPRISE

# A float holds every amount of at most 15 significant digits exactly enough for its shortest text to be the amount.
FLOAT_EXACT_FEN = 10**15 - 1


def _stored_or_refused(value: object) -> int | None:
    """What storage makes of ``value``: its fen, or None when it refuses it."""
    try:
        return store.fen(value)  # type: ignore[arg-type]
    except InvalidAmount:
        return None


@given(fen=st.integers(min_value=0, max_value=STORED_MAX))
@example(fen=115)  # 1.15 yuan: 1.15 * 100 is 114.99999999999999 in binary floating point
@example(fen=29)  # 0.29 * 100 = 28.999999999999996
@example(fen=STORED_MAX)
def test_a_two_decimal_amount_round_trips_exactly(fen: int) -> None:
    yuan = Decimal(fen).scaleb(-2)
    profile = normalize_profile("enterprise", {**ENTERPRISE, "revenue": f"{yuan:f}", "tax_paid": yuan})
    assert profile["revenue"] == yuan and profile["tax_paid"] == yuan
    row = store.to_row("enterprise", profile)
    assert row[store.columns("enterprise").index("revenue_fen")] == fen
    assert store.from_row("enterprise", dict(zip(store.columns("enterprise"), row)))["revenue"] == yuan
    # However a caller holds the amount, storage keeps the exact fen or refuses it: never a neighbouring fen.
    assert _stored_or_refused(yuan) == fen
    if fen <= FLOAT_EXACT_FEN:
        as_float = float(yuan)
        assert normalize_profile("enterprise", {**ENTERPRISE, "revenue": as_float})["revenue"] == yuan
        assert _stored_or_refused(as_float) in (fen, None)


@given(fen=st.integers(min_value=0, max_value=10**17), mill=st.integers(min_value=1, max_value=9))
@example(fen=115, mill=5)  # 1.155 yuan was stored as 115 fen
def test_an_amount_with_a_third_decimal_is_refused_not_truncated(fen: int, mill: int) -> None:
    amount = Decimal(fen * 10 + mill).scaleb(-3)
    with pytest.raises(InvalidAmount):
        store.fen(amount)
