"""Money for payments/: the one rule in kit/money.py (integer fen, Decimal yuan, half-up once, never a float)."""

from kit.money import FEN, fen_to_yuan, format_yuan, round_yuan_to_fen, yuan_to_fen  # noqa: F401
