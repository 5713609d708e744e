"""The pricing rule, on its own so that every layer applies it the same way."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

HUNDRED = Decimal(100)


def discounted_price(
    base: Decimal, discount_percent: Decimal, decimals: int = 2, rounding: str = ROUND_HALF_UP
) -> Decimal:
    """The unit price after a discount: `base * (1 - discount_percent / 100)` rounded to
    `decimals` places, half up by default (`rounding` is a `decimal` rounding mode).

    Examples:
        >>> from decimal import Decimal
        >>> discounted_price(Decimal("8.00"), Decimal("12.5"))
        Decimal('7.00')
        >>> discounted_price(Decimal("4.99"), Decimal("10"))
        Decimal('4.49')
        >>> discounted_price(Decimal("0.05"), Decimal("50"))
        Decimal('0.03')
    """
    exponent = Decimal(1).scaleb(-decimals)
    return (base * (1 - discount_percent / HUNDRED)).quantize(exponent, rounding=rounding)
