"""Market metadata for rows per token: which market each token is in, which outcome it is,
and the market's own fields (window, tick, minimum size, fee schedule, result).

``metadata=FILE`` (a path, relative to the working folder or else to the data file) is JSON
in one of these shapes:

- a Gamma export: a list of market rows (``/markets``), a list of events with their
  ``markets`` (``/events``), ``{"markets": [...]}`` or one market row. Each row is read by
  ``bot.markets.gamma.parse_market``: tokens mapped to UP/DOWN through ``outcomes``, the
  condition id as market id, ``orderPriceMinTickSize``, ``orderMinSize``, ``feeSchedule``
  (no fees when ``feesEnabled`` is false), ``eventStartTime``/``endDate`` and, once Gamma
  says the market resolved, its winner.
- a plain map ``{"TOKEN_ID": {"market": "M", "outcome": "Up"}, ...}`` (``outcome`` in
  Up/Down or Yes/No; ``window_end`` optional): tokens and markets only, the other fields
  then come from the options and the data as without metadata.

A row Gamma cannot parse, or a token in two markets, is an error naming the file and the
row; a market row without token ids (not tradable yet) is skipped and noted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from bot.feeds.formats.core import _MarketFields
from bot.feeds.formats.values import MARKET_OUTCOMES, _outcome, _parse_time
from bot.feeds.tape import DataError
from bot.feeds.where import json_error
from bot.markets.gamma import MissingTokens, event_markets, parse_market
from bot.model import Outcome
from bot.safefile import FileRefused, read_small
from bot.venues.polymarket.wire import ParseError

MAX_METADATA_BYTES: Final = 256 << 20  # a Gamma export of a year of 5-minute windows is ~150 MB


@dataclass(frozen=True, slots=True)
class TokenMeta:
    market_id: str
    side: Outcome
    fields: _MarketFields | None  # None: the plain map gives no market fields
    window_start: int | None = None
    window_end: int | None = None
    outcome: Outcome | None = None  # the market's winner, once known


@dataclass(slots=True)
class Metadata:
    path: Path
    tokens: dict[str, TokenMeta]
    notes: list[str]


def load_metadata(data_path: Path, name: str | None) -> Metadata | None:
    """The metadata file named by the option, read and checked; None without the option."""
    if name is None:
        return None
    path = Path(name)
    if not path.is_absolute() and not os.path.lexists(path):
        beside = data_path.parent / path
        if os.path.lexists(beside):
            path = beside
    what = "a Gamma export (JSON list of markets or events) or {token: {market, outcome}}"
    try:
        body = orjson.loads(read_small(path, MAX_METADATA_BYTES))
    except FileRefused as exc:
        raise DataError(f"{path}: {exc}; expected {what}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read metadata ({exc.strerror}); expected {what}") from None
    except orjson.JSONDecodeError as exc:
        raise json_error(path, exc, what) from None
    meta = Metadata(path, {}, [])
    if (
        isinstance(body, Mapping)
        and body
        and all(isinstance(v, Mapping) and "market" in v for v in body.values())
    ):
        _plain(meta, body)
    else:
        _gamma(meta, body, what)
    if not meta.tokens:
        raise DataError(f"{path}: no market with tokens in the metadata; expected {what}")
    return meta


def _add(meta: Metadata, token: str, info: TokenMeta, where: str) -> None:
    known = meta.tokens.get(token)
    if known is not None and known.market_id != info.market_id:
        raise DataError(
            f"{meta.path}: {where}: token {token} is also in market {known.market_id};"
            " expected each token in one market"
        )
    meta.tokens[token] = info


def _plain(meta: Metadata, body: Mapping[str, Any]) -> None:
    for token, entry in body.items():
        where = f"token {token}"
        market = entry.get("market")
        if not isinstance(market, str) or not market.strip():
            raise DataError(f"{meta.path}: {where}: market {market!r}: expected a market id")
        try:
            side = _outcome(entry.get("outcome"), "outcome")
            end = entry.get("window_end")
            window_end = None if end is None else _parse_time(end)[0]
        except ValueError as exc:
            raise DataError(f"{meta.path}: {where}: {exc}") from None
        if side is None:
            raise DataError(f"{meta.path}: {where}: no outcome; expected {MARKET_OUTCOMES}")
        _add(meta, str(token).strip(), TokenMeta(market.strip(), side, None, window_end=window_end), where)


def _gamma(meta: Metadata, body: Any, what: str) -> None:
    if isinstance(body, Mapping) and isinstance(body.get("markets"), list) and "conditionId" not in body:
        body = body["markets"]
    rows: list[tuple[Any, Mapping[str, Any] | None, str]] = []
    items = body if isinstance(body, list) else [body]
    for i, item in enumerate(items):
        where = f"[{i}]" if isinstance(body, list) else "the object"
        if isinstance(item, Mapping) and "markets" in item and "conditionId" not in item:
            try:
                rows.extend((row, item, f"{where}.markets[{j}]") for j, row in enumerate(event_markets(item)))
            except ParseError as exc:
                raise DataError(f"{meta.path}: {where}: {exc}; expected {what}") from None
        else:
            rows.append((item, None, where))
    skipped = 0
    for row, event, where in rows:
        try:
            market = parse_market(row, event, where)
        except MissingTokens:
            skipped += 1
            continue
        except ParseError as exc:
            raise DataError(f"{meta.path}: {exc}; expected {what}") from None
        resolution = market.resolution()
        fields = _MarketFields(
            instrument=market.crypto.asset.upper() if market.crypto else "",
            name=market.question or market.slug or None,
            tick=market.tick,
            min_size=market.min_size,
            fee_rate_ppm=market.fee_rate_ppm if market.fees_enabled else 0,
            fee_exponent=max(market.fee_exponent, 1),
            fee_source="metadata feeSchedule" if market.fees_enabled else "metadata: feesEnabled false",
            token_ids=(market.up_token, market.down_token),
        )
        for token, side in ((market.up_token, Outcome.UP), (market.down_token, Outcome.DOWN)):
            info = TokenMeta(
                market.condition_id,
                side,
                fields,
                window_start=market.start_ms,
                window_end=market.end_ms,
                outcome=resolution.winner if resolution is not None else None,
            )
            _add(meta, token, info, where)
    if skipped:
        meta.notes.append(f"{skipped} market(s) in {meta.path.name} without token ids skipped")
