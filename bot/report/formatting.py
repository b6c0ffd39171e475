"""How the report writes numbers, money and times, and reads the summary's per-strategy rows.

Money in the HTML tables is the summary value with 2 decimals (USD), percents with 1 (the
0..1 win rate is shown ×100), so they match summary.json digit for digit; the picture's
dollar labels (`dollars`) use the same digits. Amounts in micros are shown exactly
(`exact_decimals`, `fixed`). Times are UTC.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.model import ONE, Micros

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def usd_micros(usd: Any) -> Micros | None:
    v = number(usd)
    return round(v * ONE) if v is not None else None


def fmt_money(value: Any) -> str:
    """A summary money figure as shown in the HTML: 2 decimals, '—' when missing."""
    v = number(value)
    return "—" if v is None else f"{v:.2f}"


def fmt_pct(value: Any) -> str:
    """A summary percent figure (already in percent units): 1 decimal and a % sign."""
    v = number(value)
    return "—" if v is None else f"{v:.1f}%"


def fmt_ratio_pct(value: Any) -> str:
    """A 0..1 ratio (the win rate) as a percent with 1 decimal."""
    v = number(value)
    return "—" if v is None else f"{v * 100:.1f}%"


def signed_pct(value: float) -> str:
    """'+4.6%', '-12.2%', and '0.0%' rather than '-0.0%' (percent units, 1 decimal)."""
    digits = f"{abs(value):.1f}"
    sign = "" if digits == "0.0" else "-" if value < 0 else "+"
    return f"{sign}{digits}%"


def dollars(value: float, decimals: int = 2, plus: bool = False, group: bool = False) -> str:
    """'$12.50', '-$12.00', '+$3.10' (plus=True), '$1,200' (group=True) for the picture.

    Without `group` the digits are exactly f"{abs(value):.2f}", as in the HTML tables."""
    digits = f"{abs(value):,.{decimals}f}" if group else f"{abs(value):.{decimals}f}"
    sign = ""
    if value < 0 and digits.strip("0.,"):
        sign = "-"
    elif plus and value > 0 and digits.strip("0.,"):
        sign = "+"
    return f"{sign}${digits}"


def exact_decimals(values: Iterable[Micros], minimum: int = 2) -> int:
    """Fewest decimals (at least `minimum`) that show every micro amount exactly."""
    need = minimum
    for v in values:
        frac = f"{abs(v) % ONE:06d}".rstrip("0")
        need = max(need, len(frac))
    return need


def fixed(micros: Micros, decimals: int) -> str:
    """Micros as a decimal with `decimals` places (exact when `exact_decimals` chose them)."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), ONE)
    return f"{sign}{whole}.{f'{frac:06d}'[:decimals]}"


def utc_datetime(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms // 1000, tz=UTC).replace(microsecond=(ts_ms % 1000) * 1000)


def stamp(ts_ms: int, seconds: bool = True) -> str:
    return utc_datetime(ts_ms).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def exit_stamp(entry_ms: int, exit_ms: int) -> str:
    """The exit time, without its date when that is the entry's date."""
    full = stamp(exit_ms)
    return full[11:] if full[:10] == stamp(entry_ms)[:10] else full


def duration(ms: int) -> str:
    if ms < 0:
        return "—"
    s = ms // 1000
    if s < 60:
        return f"{s}s" if s or ms == 0 else f"{ms}ms"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h:02d}h"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def strategy_rows(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Per-strategy rows, best net P&L first, ties by name."""
    table = summary.get("per_strategy") or {}
    rows = [(str(name), stats) for name, stats in table.items() if isinstance(stats, Mapping)]
    return sorted(rows, key=lambda r: (-(number(r[1].get("net_pnl")) or 0.0), r[0]))
