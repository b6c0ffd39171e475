"""Pure parsers from Gamma JSON (``/events``, ``/markets``) to `GammaMarket` (no I/O).

Gamma writes several lists as JSON-encoded *strings*: ``clobTokenIds`` is
``"[\\"4841...\\", \\"1494...\\"]"``, ``outcomes`` is ``"[\\"Up\\", \\"Down\\"]"`` and
``outcomePrices`` is ``"[\\"1\\", \\"0\\"]"`` (real arrays are accepted too). Tokens are mapped
to UP and DOWN through ``outcomes``, never by position: a row listing ``["Down", "Up"]`` gets
its tokens swapped. Anything missing or malformed raises `ParseError` naming the field; the
caller reports it as the reason the market is skipped, never guesses.

Resolution (`GammaMarket.resolution`) follows the rule of ../shared/polymarket-realtime.md
§1.5: Gamma answers can be cached for a minute or more, so a market counts as resolved only
when ``closed`` is true, ``umaResolutionStatus`` is ``"resolved"`` and ``outcomePrices`` is
a final vector (one outcome 1 and the other 0, or 0.5 each) all at once.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.model import ONE, Market, Micros, Outcome
from bot.venues.polymarket.wire import (
    DOWN_NAMES,
    UP_NAMES,
    ParseError,
    field_of,
    flag,
    micros,
    text,
    tick_micros,
    timestamp_ms,
)

HALF = ONE // 2
log = logging.getLogger(__name__)


class MissingTokens(ParseError):
    """The row has no ``clobTokenIds``: nothing can be traded (yet)."""


@dataclass(frozen=True, slots=True)
class CryptoConfig:
    """``cryptoMarketConfig``: which settlement rule a crypto up/down market follows."""

    config_id: str
    asset: str
    duration: str
    twap_enabled: bool
    twap_lookback_s: int | None


@dataclass(frozen=True, slots=True)
class GammaMarket:
    """One binary market as Gamma describes it, in exact units."""

    gamma_id: str
    slug: str  # the market's slug
    event_slug: str  # the event's slug (the same for up/down windows)
    question: str
    condition_id: str
    up_token: str
    down_token: str
    outcome_names: tuple[str, str]  # as Gamma lists them, e.g. ("Up", "Down")
    start_ms: int | None  # eventStartTime: the window opens
    end_ms: int  # endDate: the window closes
    tick: Micros  # orderPriceMinTickSize
    min_size: Micros  # orderMinSize, in shares
    fees_enabled: bool
    fee_rate_ppm: int  # feeSchedule.rate (0 without fees)
    fee_exponent: int
    fee_taker_only: bool
    neg_risk: bool
    active: bool
    closed: bool
    accepting_orders: bool
    enable_order_book: bool
    uma_status: str  # umaResolutionStatus ("" when none)
    outcome_prices: tuple[Micros, Micros] | None  # (UP, DOWN) prices, None when absent
    resolution_source: str
    description: str
    crypto: CryptoConfig | None
    series_slug: str  # the event's seriesSlug or series[0].slug ("" when none)
    # the event's eventMetadata.priceToBeat: the official strike, which Gamma publishes only
    # after the window has ended (../shared/polymarket-realtime.md 1.4); None until then
    price_to_beat: float | None = None

    def to_market(self, instrument: str = "") -> Market:
        """The domain `Market`: market_id is the condition id, as bot.venues.polymarket uses."""
        return Market(
            market_id=self.condition_id,
            instrument=instrument or (self.crypto.asset.upper() if self.crypto else ""),
            name=self.question or self.slug,
            window_start_ms=self.start_ms or 0,
            window_end_ms=self.end_ms,
            tick=self.tick,
            min_size=self.min_size,
            fee_rate_ppm=self.fee_rate_ppm,
            fee_exponent=self.fee_exponent,
            token_ids=(self.up_token, self.down_token),
            slug=self.slug,
            strike=self.price_to_beat,
        )

    def resolution(self) -> Resolution | None:
        """The result when Gamma says so three ways at once (closed, UMA status, prices)."""
        if not self.closed or self.uma_status != "resolved" or self.outcome_prices is None:
            return None
        up, down = self.outcome_prices
        if (up, down) == (ONE, 0):
            return Resolution(self.condition_id, Outcome.UP, up, down)
        if (up, down) == (0, ONE):
            return Resolution(self.condition_id, Outcome.DOWN, up, down)
        if (up, down) == (HALF, HALF):
            return Resolution(self.condition_id, None, up, down)
        return None  # prices not final yet: a cached answer or a market still settling

    def unreadable_resolution(self) -> str:
        """Why a market Gamma calls resolved (closed, umaResolutionStatus "resolved") has no
        result the bot can book: prices that do not sum to 1 or are not 1/0 or 0.5 each ("" when
        readable or not resolved yet). The position stays as it is: never a guess."""
        if not self.closed or self.uma_status != "resolved" or self.resolution() is not None:
            return ""
        if self.outcome_prices is None:
            return "Gamma says resolved but has no outcomePrices"
        if sum(self.outcome_prices) != ONE:
            return f"Gamma says resolved but outcomePrices {self._prices_text()} do not sum to 1"
        return f"Gamma says resolved but outcomePrices {self._prices_text()} are not 1/0 or 0.5 each"

    def pending_reason(self) -> str:
        """Why `resolution()` is None, for an ended market."""
        if not self.closed:
            return "Gamma still says closed=false (its answers can be cached a minute or more)"
        if self.uma_status != "resolved":
            return f"umaResolutionStatus is {self.uma_status or 'empty'!r}, not 'resolved'"
        return f"outcomePrices {self._prices_text()} are not final"

    def _prices_text(self) -> str:
        if self.outcome_prices is None:
            return "missing"
        return "/".join(str(p / ONE) for p in self.outcome_prices)


@dataclass(frozen=True, slots=True)
class Resolution:
    """A resolved market: the winner (None for a 50/50 split) and the payout per share."""

    condition_id: str
    winner: Outcome | None
    up_payout: Micros
    down_payout: Micros


def string_list(value: Any, field: str) -> list[str]:
    """A list of strings, given as a JSON array or as a string holding one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ParseError(field, f"not a JSON list: {value[:60]!r}") from None
    if not isinstance(value, list):
        raise ParseError(field, f"expected a list, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ParseError(f"{field}[{i}]", f"expected a string, got {item!r}"[:80])
        out.append(str(item).strip())
    return out


def _optional_flag(data: Mapping[str, Any], name: str, where: str, default: bool) -> bool:
    value = data.get(name)
    return default if value is None else flag(value, f"{where}.{name}")


def _tokens(row: Mapping[str, Any], where: str) -> tuple[str, str, tuple[str, str]]:
    """(UP token, DOWN token, outcome names) through ``outcomes``."""
    if row.get("clobTokenIds") in (None, "", "[]", []):
        raise MissingTokens(f"{where}.clobTokenIds", "missing or empty")
    ids = string_list(row["clobTokenIds"], f"{where}.clobTokenIds")
    names = string_list(field_of(row, "outcomes", where), f"{where}.outcomes")
    if len(ids) != 2 or len(names) != 2:
        raise ParseError(where, f"expected 2 outcomes and 2 token ids, got {len(names)} and {len(ids)}")
    for i, token in enumerate(ids):
        if not token.isdigit():
            raise ParseError(f"{where}.clobTokenIds[{i}]", f"token ids are decimal strings, got {token!r}")
    if ids[0] == ids[1]:
        raise ParseError(f"{where}.clobTokenIds", "the two token ids are the same")
    lowered = [n.lower() for n in names]
    if lowered[0] in UP_NAMES and lowered[1] in DOWN_NAMES:
        return ids[0], ids[1], (names[0], names[1])
    if lowered[0] in DOWN_NAMES and lowered[1] in UP_NAMES:
        return ids[1], ids[0], (names[0], names[1])
    raise ParseError(f"{where}.outcomes", f"expected Up/Down or Yes/No, got {names}")


def _prices(row: Mapping[str, Any], where: str, names: tuple[str, str]) -> tuple[Micros, Micros] | None:
    raw = row.get("outcomePrices")
    if raw in (None, "", "[]", []):
        return None
    values = string_list(raw, f"{where}.outcomePrices")
    if len(values) != 2:
        raise ParseError(f"{where}.outcomePrices", f"expected 2 prices, got {len(values)}")
    first, second = (micros(v, f"{where}.outcomePrices[{i}]") for i, v in enumerate(values))
    return (first, second) if names[0].lower() in UP_NAMES else (second, first)


def _fees(row: Mapping[str, Any], where: str) -> tuple[bool, int, int, bool]:
    """(fees enabled, rate ppm, exponent, taker only) from ``feeSchedule``; the legacy
    ``makerBaseFee``/``takerBaseFee`` are not the charge and are ignored."""
    enabled = _optional_flag(row, "feesEnabled", where, False)
    schedule = row.get("feeSchedule")
    if not enabled:
        return False, 0, 1, True
    if not isinstance(schedule, Mapping):
        raise ParseError(f"{where}.feeSchedule", "feesEnabled is true but there is no fee schedule")
    rate = micros(field_of(schedule, "rate", f"{where}.feeSchedule"), f"{where}.feeSchedule.rate")
    if not 0 <= rate < ONE:
        raise ParseError(f"{where}.feeSchedule.rate", f"fee rate out of range: {rate / ONE}")
    exponent = schedule.get("exponent", 1)
    if isinstance(exponent, bool) or not isinstance(exponent, (int, float)) or exponent != int(exponent):
        raise ParseError(f"{where}.feeSchedule.exponent", f"expected a whole number, got {exponent!r}")
    if exponent < 0:
        raise ParseError(f"{where}.feeSchedule.exponent", "negative exponent")
    taker_only = _optional_flag(schedule, "takerOnly", f"{where}.feeSchedule", True)
    return True, rate, int(exponent), taker_only


def _crypto(row: Mapping[str, Any], where: str) -> CryptoConfig | None:
    raw = row.get("cryptoMarketConfig")
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ParseError(f"{where}.cryptoMarketConfig", "not JSON") from None
    if not isinstance(raw, Mapping):
        raise ParseError(f"{where}.cryptoMarketConfig", f"expected an object, got {raw!r}"[:80])
    lookback = raw.get("twapLookbackSeconds")
    if lookback is not None and (isinstance(lookback, bool) or not isinstance(lookback, (int, float))):
        raise ParseError(f"{where}.cryptoMarketConfig.twapLookbackSeconds", f"not a number: {lookback!r}")
    return CryptoConfig(
        config_id=str(raw.get("id") or row.get("cryptoMarketConfigId") or ""),
        asset=str(raw.get("asset") or "").lower(),
        duration=str(raw.get("duration") or "").lower(),
        twap_enabled=_optional_flag(raw, "twapEnabled", f"{where}.cryptoMarketConfig", False),
        twap_lookback_s=None if lookback is None else int(lookback),
    )


def _series_slug(event: Mapping[str, Any] | None) -> str:
    if not event:
        return ""
    slug = event.get("seriesSlug")
    if isinstance(slug, str) and slug:
        return slug
    series = event.get("series")
    if isinstance(series, list) and series and isinstance(series[0], Mapping):
        return str(series[0].get("slug") or "")
    return ""


def parse_market(row: Any, event: Mapping[str, Any] | None = None, where: str = "market") -> GammaMarket:
    """One Gamma market row (with its event, when it came inside one) → `GammaMarket`."""
    if not isinstance(row, Mapping):
        raise ParseError(where, f"expected an object, got {type(row).__name__}")
    condition = text(field_of(row, "conditionId", where), f"{where}.conditionId")
    if not (condition.startswith("0x") and len(condition) == 66):
        raise ParseError(f"{where}.conditionId", f"expected 0x and 64 hex digits, got {condition[:70]!r}")
    up, down, names = _tokens(row, where)
    start_raw = row.get("eventStartTime") or (event or {}).get("startTime")
    start = timestamp_ms(start_raw, f"{where}.eventStartTime") if start_raw else None
    end = timestamp_ms(field_of(row, "endDate", where), f"{where}.endDate")
    if start is not None and end <= start:
        raise ParseError(f"{where}.endDate", "the window ends before it starts")
    min_size = micros(field_of(row, "orderMinSize", where), f"{where}.orderMinSize")
    if min_size <= 0:
        raise ParseError(f"{where}.orderMinSize", "not positive")
    enabled, rate, exponent, taker_only = _fees(row, where)
    uma = row.get("umaResolutionStatus")
    event_slug = (event or {}).get("slug")
    events = row.get("events")
    if not event_slug and isinstance(events, list) and events and isinstance(events[0], Mapping):
        event_slug = events[0].get("slug")
        event = event or events[0]
    return GammaMarket(
        gamma_id=str(row.get("id") or ""),
        slug=str(row.get("slug") or ""),
        event_slug=str(event_slug or row.get("slug") or ""),
        question=str(row.get("question") or ""),
        condition_id=condition,
        up_token=up,
        down_token=down,
        outcome_names=names,
        start_ms=start,
        end_ms=end,
        tick=tick_micros(field_of(row, "orderPriceMinTickSize", where), f"{where}.orderPriceMinTickSize"),
        min_size=min_size,
        fees_enabled=enabled,
        fee_rate_ppm=rate,
        fee_exponent=exponent,
        fee_taker_only=taker_only,
        neg_risk=_optional_flag(row, "negRisk", where, False),
        active=_optional_flag(row, "active", where, True),
        closed=flag(field_of(row, "closed", where), f"{where}.closed"),
        accepting_orders=flag(field_of(row, "acceptingOrders", where), f"{where}.acceptingOrders"),
        enable_order_book=_optional_flag(row, "enableOrderBook", where, True),
        uma_status=str(uma or "").strip().lower(),
        outcome_prices=_prices(row, where, names),
        resolution_source=str(row.get("resolutionSource") or (event or {}).get("resolutionSource") or ""),
        description=str(row.get("description") or (event or {}).get("description") or ""),
        crypto=_crypto(row, where),
        series_slug=_series_slug(event),
        price_to_beat=_price_to_beat(event, where),
    )


def _price_to_beat(event: Mapping[str, Any] | None, where: str) -> float | None:
    """``eventMetadata.priceToBeat`` when it is a positive number; a malformed one is logged
    and ignored (the window stays tradeable and resolvable, with the feed's strike)."""
    meta = (event or {}).get("eventMetadata")
    raw = meta.get("priceToBeat") if isinstance(meta, Mapping) else None
    if raw is None:
        return None
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        log.warning("%s.eventMetadata.priceToBeat %r is not a positive number: ignored", where, str(raw)[:40])
        return None
    return value


def event_markets(event: Any, where: str = "event") -> list[Any]:
    """The raw market rows of one event (ParseError when the event has none)."""
    rows = field_of(event, "markets", where)
    if not isinstance(rows, list) or not rows:
        raise ParseError(f"{where}.markets", "no markets in the event")
    return rows


def event_list(body: Any, where: str) -> list[Mapping[str, Any]]:
    """A ``/events`` answer: a list of event objects (non-objects raise)."""
    if not isinstance(body, list):
        raise ParseError(where, f"expected a list of events, got {type(body).__name__}")
    for i, item in enumerate(body):
        if not isinstance(item, Mapping):
            raise ParseError(f"{where}[{i}]", f"expected an event object, got {type(item).__name__}")
    return body
