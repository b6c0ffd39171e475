"""The markets the live venue trades: read from the CLOB, validated (open, accepting orders),
and kept with the venue's current rules (a tick read again after a refusal, the tick and
minimum size a new window brings)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from bot.config import ConfigError
from bot.errors import OrderRefused, VenueUnavailable
from bot.model import ONE, Market, Outcome
from bot.venues.polymarket import wire
from bot.venues.polymarket.transport import Transport

log = logging.getLogger(__name__)


class MarketCatalogue:
    """`by_id`: the validated markets by condition id (changed in place, never replaced)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.by_id: dict[str, wire.MarketInfo] = {}

    def validate(self, token_or_condition_ids: Iterable[str]) -> list[Market]:
        """Each market read and checked: it exists, accepts orders and is not closed;
        `ConfigError` naming the id otherwise."""
        result = []
        for ident in token_or_condition_ids:
            info = self.load(ident)
            if info.closed:
                raise ConfigError(f"market {ident} is closed")
            if not info.accepting_orders:
                raise ConfigError(f"market {ident} is not accepting orders")
            self.by_id[info.condition_id] = info
            result.append(info.market)
        return result

    def load(self, ident: str) -> wire.MarketInfo:
        """A market by condition id (0x + 64 hex) or by either of its token ids."""
        call = self._transport.call
        ident = ident.strip()
        try:
            if wire.looks_like_condition_id(ident):
                condition = ident
            else:
                condition = wire.parse_market_by_token(call("GET", f"/markets-by-token/{ident}"))
            compact = call("GET", f"/clob-markets/{condition}")
            status = wire.parse_market_status(call("GET", f"/markets/{condition}"))
            return wire.parse_clob_market(compact, status)
        except OrderRefused as exc:  # 400/404: no such market
            raise ConfigError(f"market {ident} not found at {self._transport.host}: {exc}") from None
        except wire.ParseError as exc:
            raise ConfigError(f"market {ident}: unreadable market data ({exc})") from None

    def refresh_tick(self, market_id: str) -> wire.MarketInfo:
        """Read the UP token's ``/tick-size`` again; the market keeps the venue's current tick."""
        info = self.by_id[market_id]
        answer = self._transport.call("GET", "/tick-size", params={"token_id": info.token_for(Outcome.UP)})
        try:
            tick = wire.parse_tick_size(answer)
        except wire.ParseError as exc:
            raise VenueUnavailable(f"unreadable tick size: {exc}") from None
        if tick != info.market.tick:
            log.info("market %s: tick changed from %s to %s", market_id, info.market.tick / ONE, tick / ONE)
            info = dataclasses.replace(info, market=dataclasses.replace(info.market, tick=tick))
            self.by_id[market_id] = info
        return info

    def new_rules(self, market: Market) -> None:
        """A new window's tick and minimum size (the feed read them)."""
        info = self.by_id.get(market.market_id)
        if info is not None and info.market != market:
            changed = dataclasses.replace(info.market, tick=market.tick, min_size=market.min_size)
            self.by_id[market.market_id] = dataclasses.replace(info, market=changed)
