"""Amounts in Chinese capital numerals (大写金额) by the People's Bank of China rules for bills.

The rules (《正确书写票据和结算凭证的基本规定》) and the forms chosen where they permit two:

- 人民币 in front; 整 after 元 (and, as the rule permits, after 角); never after 分.
- Every 拾 carries its digit: 壹拾元整, 壹拾万…, 壹佰壹拾….
- A zero inside the number is written 零; a run of zeros, including one that crosses the 万 or
  亿 boundary, is written with one 零: 6,007.14 → 陆仟零柒元壹角肆分; 100,000,100 → 壹亿零壹佰元整.
- 角 is 0 and 分 is not: 零 after 元 (16,409.02 → 壹万陆仟肆佰零玖元零贰分).
- Where the rule allows writing 零 or not (its example 3), this module writes the rule's first form:
  the 元 digit is 0 and 角 is not → 零 after 元 (1,680.32 → 壹仟陆佰捌拾元零叁角贰分); zeros that only
  end the 万 (or 亿) group before a non-zero 仟 get no 零 (107,000.53 → 壹拾万柒仟元零伍角叁分).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from kit.money import yuan_to_fen

DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACE_UNITS = ("", "拾", "佰", "仟")  # within a group of four digits
GROUP_UNITS = ("", "万", "亿")  # groups, least significant first
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")


def amount_in_words(amount: Decimal) -> str:
    """人民币… for a yuan amount from 0.01 to 999,999,999,999.99 with at most two decimals."""
    if isinstance(amount, float) or not isinstance(amount, (Decimal, int)):
        raise TypeError("amount_in_words takes a Decimal (never a float)")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    try:
        fen_total = amount.quantize(MIN_AMOUNT)
    except InvalidOperation as exc:  # too large to quantize at this precision
        raise ValueError("amount is out of range") from exc
    if fen_total != amount:
        raise ValueError(f"amount {amount} has more than two decimals")
    if amount < MIN_AMOUNT or amount > MAX_AMOUNT:
        raise ValueError(f"amount must be between {MIN_AMOUNT} and {MAX_AMOUNT:,} yuan")

    fen_count = yuan_to_fen(fen_total)
    yuan, jiao, fen = fen_count // 100, fen_count // 10 % 10, fen_count % 10
    words = ["人民币"]
    if yuan:
        words.append(_yuan_words(yuan) + "元")
        if (jiao and yuan % 10 == 0) or (not jiao and fen):
            words.append("零")
    if jiao:
        words.append(DIGITS[jiao] + "角")
    if fen:
        words.append(DIGITS[fen] + "分")
    else:
        words.append("整")
    return "".join(words)


def _yuan_words(yuan: int) -> str:
    """The integer yuan part, without 元. Walks the digits from the most significant one."""
    digits = str(yuan)
    out: list[str] = []
    zero_pending = False
    group_has_digit = False
    for index, char in enumerate(digits):
        position = len(digits) - 1 - index  # 0 = 个位
        digit = int(char)
        if digit:
            if zero_pending:
                out.append("零")
            out.append(DIGITS[digit] + PLACE_UNITS[position % 4])
            zero_pending = False
            group_has_digit = True
        elif out:
            zero_pending = True
        if position % 4 == 0 and position:
            if group_has_digit:
                out.append(GROUP_UNITS[position // 4])
                # zeros that only end this group are not written when the next group's 仟 is set
                zero_pending = False
            group_has_digit = False
    return "".join(out)
