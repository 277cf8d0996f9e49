"""Money: integer fen in storage, ``Decimal`` yuan at the edges, rounded half-up to the fen once; never a float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from kit.errors import Invalid
from kit.i18n import _l

FEN = Decimal("0.01")


class InvalidAmount(Invalid):
    """An amount that is not exact money (a float, a third decimal, not a number)."""


def _decimal(value: Decimal | str | int) -> Decimal:
    """``value`` as a finite Decimal, or the refusal naming it."""
    try:
        d = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise InvalidAmount(_l("{value!r} is not an amount of money"), value=value) from exc
    if not d.is_finite():
        raise InvalidAmount(_l("{value!r} is not an amount of money"), value=value)
    return d


def yuan_to_fen(value: Decimal | str | int) -> int:
    """Exact yuan (at most 2 decimals) to integer fen; a float or a third decimal is refused, not rounded."""
    if isinstance(value, float):
        raise InvalidAmount(_l("an amount must be given as a decimal string or Decimal, never a float"))
    if isinstance(value, bool):
        raise InvalidAmount(_l("{value!r} is not an amount of money"), value=value)
    d = _decimal(value)
    fen = d * 100
    if fen != fen.to_integral_value():
        raise InvalidAmount(_l("{value} has more than 2 decimals"), value=value)
    return int(fen)


def round_yuan_to_fen(value: Decimal | int | str) -> int:
    """A computed yuan amount (a rule's result, a share) rounded half-up to the fen, once."""
    if isinstance(value, float):
        raise InvalidAmount(_l("an amount must never be a float"))
    d = _decimal(value)
    return int((d * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen to Decimal yuan with exactly 2 decimals."""
    return (Decimal(int(fen)) / 100).quantize(FEN)


def format_yuan(fen: int) -> str:
    """'1,234.56' for display."""
    return f"{fen_to_yuan(fen):,.2f}"


def format_cny(fen: int) -> str:
    """'¥1,234.56': money as people read it on pages, notices and receipts."""
    return f"¥{format_yuan(fen)}"
