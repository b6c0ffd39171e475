"""The account's reads at the venue, parsed: open orders, one order, trades, balances. An unreadable
row is logged, counted (`parse_errors`) and skipped; a trade row skipped keeps the trade
window where it is, so it is read again next time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from bot.errors import OrderRefused, VenueUnavailable
from bot.model import Micros
from bot.venues.polymarket import wire
from bot.venues.polymarket.signing import GTD_SECURITY_S
from bot.venues.polymarket.transport import Transport

log = logging.getLogger(__name__)


class AccountReads:
    """Reads through `transport`; trades are matched against `markets` and our wallet."""

    def __init__(
        self,
        transport: Transport,
        markets: Mapping[str, wire.MarketInfo],
        funder: str,
        signature_type: int,
        clock: Callable[[], float],
    ) -> None:
        self._transport = transport
        self._markets = markets
        self._funder = funder
        self._signature_type = str(signature_type)
        self._clock = clock
        self.parse_errors = 0

    def fetch_open_orders(self, now_s: float) -> dict[str, wire.VenueOrder]:
        rows, _ = self._transport.pages("/data/orders", {})
        result = {}
        for row in rows:
            try:
                order = wire.parse_order(row, now_s, GTD_SECURITY_S)
            except wire.ParseError as exc:
                self.parse_failure("open order", exc)
                continue
            result[order.order_id] = order
        return result

    def fetch_order(self, venue_id: str) -> wire.VenueOrder | None:
        """One order by the venue's id; None when the venue does not know it."""
        try:
            data = self._transport.call("GET", f"/data/order/{venue_id}")
        except OrderRefused:
            return None
        if not data:
            return None
        try:
            return wire.parse_order(data, self._clock(), GTD_SECURITY_S)
        except wire.ParseError as exc:
            self.parse_failure("order", exc)
            return None

    def fetch_trades(self, after_s: float, asset_id: str | None = None) -> tuple[list[wire.TradeFill], bool]:
        params = {"after": str(max(0, int(after_s)))}
        if asset_id:
            params["asset_id"] = asset_id
        rows, complete = self._transport.pages("/data/trades", params)
        fills, parsed = self.parse_trades(rows, "trade")
        return fills, complete and parsed  # a row that did not parse: keep the window, read it again

    def parse_trades(self, rows: list[Any], what: str) -> tuple[list[wire.TradeFill], bool]:
        """Our fills in ``/data/trades`` rows (or the user websocket's trade events, which
        have the same fields); False when a row did not parse (skipped, counted, logged)."""
        markets = {
            cid: info.market for cid, info in list(self._markets.items())
        }  # a copy: the engine thread adds rolling windows
        owner = self._transport.api_creds().api_key or ""
        fills: list[wire.TradeFill] = []
        parsed = True
        for row in rows:
            try:
                fills += wire.parse_trade(row, markets, owner, self._funder)
            except wire.ParseError as exc:
                self.parse_failure(what, exc)
                parsed = False
        return fills, parsed

    def parse_failure(self, what: str, exc: wire.ParseError) -> None:
        self.parse_errors += 1
        log.error("skipped an unreadable %s from the venue: %s", what, exc)

    def balance(self) -> Micros:
        """Collateral (USDC) in micros, from ``/balance-allowance``."""
        params = {"asset_type": "COLLATERAL", "signature_type": self._signature_type}
        data = self._transport.call("GET", "/balance-allowance", params=params)
        try:
            return wire.parse_balance(data)
        except wire.ParseError as exc:
            raise VenueUnavailable(f"unreadable balance: {exc}") from None

    def token_balance(self, token_id: str) -> Micros:
        """Shares of a token by its id, in any market (a resolved one included)."""
        params = {"asset_type": "CONDITIONAL", "token_id": token_id, "signature_type": self._signature_type}
        data = self._transport.call("GET", "/balance-allowance", params=params)
        try:
            return wire.parse_balance(data)
        except wire.ParseError as exc:
            raise VenueUnavailable(f"unreadable token balance: {exc}") from None
