"""Figures for people: exact money, plain numbers and percentages, the same in every command.

Money is never rounded for display: `$12.30`, `$4.9961`, `-$0.000125` (at least two
decimals, more only when they are not zero). `scripts/check_bot.sh` defines the same `usd`
and `num` in jq, so the two print identical text for the same file. Standard library only.
"""

from __future__ import annotations

ONE = 1_000_000


def micros_of(value: float | int) -> int:
    """A JSON number (exact decimal of up to 6 places, as the bot writes them) as micros."""
    return round(value * ONE)


def usd(micros: int, sign: bool = False) -> str:
    """`$12.30`, `-$4.9961`; `+$1.00` with sign=True (for P&L)."""
    whole, frac = divmod(abs(micros), ONE)
    digits = f"{frac:06d}".rstrip("0")
    digits = digits if len(digits) >= 2 else (digits + "00")[:2]
    prefix = "-" if micros < 0 else ("+" if sign and micros > 0 else "")
    return f"{prefix}${whole}.{digits}"


def num(micros: int) -> str:
    """A price or a share count, exact and without trailing zeros: `12.5`, `0.53`, `5`."""
    whole, frac = divmod(abs(micros), ONE)
    digits = f"{frac:06d}".rstrip("0")
    return f"{'-' if micros < 0 else ''}{whole}{'.' + digits if digits else ''}"


def usd_of(value: float | int | None, sign: bool = False) -> str:
    return "-" if value is None else usd(micros_of(value), sign)


def num_of(value: float | int | None) -> str:
    return "-" if value is None else num(micros_of(value))


def pct(part: int, whole: int) -> str:
    """`66.7%`: part/whole to one decimal, half up, in integers (as check_bot.sh does)."""
    if whole <= 0:
        return "n/a"
    tenths = (part * 2000 + whole) // (2 * whole)
    return f"{tenths // 10}.{tenths % 10}%"


def quoted(value: object) -> str:
    """Any value as an error message quotes it: its repr, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
