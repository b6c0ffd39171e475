"""`bot download`: Polymarket price histories, Gamma metadata and the underlying's prices
for a series (and a date range), an event or a market, into a folder `bot backtest` reads.

    bot download --series btc-updown-5m --start 2026-11-22T00:00Z --end 2026-11-22T06:00Z \\
        --out data/btc-0600
    bot backtest data/btc-0600

The folder holds:

    gamma.json       the Gamma events (or market rows) as served: tokens, windows, ticks,
                     fee schedules, results (the loader's ``metadata``)
    books.csv        one row per token and price point: timestamp, token_id, price, and a
                     top of book synthesized around the price (bid/ask one tick either
                     side, on the market's tick: a price history has no order book)
    underlying.csv   timestamp, price: the coin's Binance candles, each close stamped at the
                     candle's close (the markets settle on Chainlink; Binance is the proxy)
    download.json    what was asked and what came back, without any wall-clock time

Price histories come from the CLOB's ``/prices-history`` (``fidelity`` minutes apart,
1 at the finest), candles from Binance's ``/api/v3/klines``. Only the standard library is
used (urllib). Every failure is one line naming the server and what went wrong.
"""

from __future__ import annotations

import csv
import io
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from bot.errors import BotError
from bot.feeds.formats.values import book_from_price, parse_time
from bot.markets.gamma import GammaMarket, parse_market
from bot.markets.series import parse_series
from bot.model import ONE, iso
from bot.venues.polymarket.wire import ParseError

GAMMA = "https://gamma-api.polymarket.com"
CLOB = "https://clob.polymarket.com"
BINANCE = "https://api.binance.com"
SLUGS_PER_REQUEST = 50
KLINES_PER_PAGE = 1000
INTERVALS_S = {"1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "1h": 3600}
MANIFEST = "download.json"


class DownloadError(BotError):
    """The download cannot go on; the message names the server or the input."""


@dataclass
class Request:
    out: Path
    series: str | None = None
    event: str | None = None
    market: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    fidelity: int = 1
    symbol: str | None = None  # Binance symbol; default from the coin (BTC -> BTCUSDT)
    interval: str = "1m"
    underlying: bool = True
    gamma: str = GAMMA
    clob: str = CLOB
    binance: str = BINANCE
    timeout_s: float = 20.0


@dataclass
class Fetched:
    markets: list[GammaMarket] = field(default_factory=list)
    raw: list[Any] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    points: int = 0
    empty_tokens: list[str] = field(default_factory=list)
    candles: int = 0


Get = Callable[[str, str, list[tuple[str, str]]], Any]


def http_getter(timeout_s: float) -> Get:
    """GET base+path?params → parsed JSON; DownloadError with one line on any failure."""

    def get(base: str, path: str, params: list[tuple[str, str]]) -> Any:
        url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:120].decode("utf-8", "replace")
            raise DownloadError(f"{base}{path}: HTTP {exc.code} {detail}".strip()) from None
        except urllib.error.URLError as exc:
            raise DownloadError(f"cannot reach {base} ({exc.reason}); is the address right?") from None
        except TimeoutError:
            raise DownloadError(f"{base}{path}: no answer within {timeout_s:g} s") from None
        except OSError as exc:
            raise DownloadError(f"cannot reach {base} ({exc})") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise DownloadError(f"{base}{path}: the answer is not JSON ({body[:60]!r})") from None

    return get


def parse_when(text: str, what: str) -> int:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise DownloadError(f"--{what} {text!r}: {exc}; expected ISO-8601 or unix seconds") from None


def download(req: Request, get: Get | None = None) -> dict[str, Any]:
    """Fetch everything into req.out (must be new or empty); the manifest written."""
    get = get or http_getter(req.timeout_s)
    _check(req)
    fetched = Fetched()
    _gamma(req, get, fetched)
    if not fetched.markets:
        where = f"between {iso(req.start_ms or 0)} and {iso(req.end_ms or 0)}" if req.series else ""
        raise DownloadError(
            f"no market of {_what(req)} {where} at {req.gamma}".replace("  ", " ")
            + (f" ({len(fetched.skipped)} skipped: {fetched.skipped[0]})" if fetched.skipped else "")
        )
    books = _books(req, get, fetched)
    if not fetched.points:
        raise DownloadError(
            f"{req.clob}/prices-history: no price in the range for any of {2 * len(fetched.markets)} tokens"
        )
    candles = _underlying(req, get, fetched) if req.underlying else None
    req.out.mkdir(parents=True, exist_ok=True)
    (req.out / "gamma.json").write_bytes(orjson.dumps(fetched.raw, option=orjson.OPT_INDENT_2))
    (req.out / "books.csv").write_text(books)
    if candles is not None:
        (req.out / "underlying.csv").write_text(candles)
    manifest = {
        "selection": {"series": req.series, "event": req.event, "market": req.market},
        "start": None if req.start_ms is None else iso(req.start_ms),
        "end": None if req.end_ms is None else iso(req.end_ms),
        "servers": {"gamma": req.gamma, "clob": req.clob, "binance": req.binance if req.underlying else None},
        "fidelity_minutes": req.fidelity,
        "books": "books.csv",
        "metadata": "gamma.json",
        "underlying": "underlying.csv" if candles is not None else None,
        "markets": len(fetched.markets),
        "skipped": fetched.skipped[:50],
        "price_points": fetched.points,
        "tokens_without_prices": fetched.empty_tokens[:50],
        "candles": fetched.candles,
        "symbol": _symbol(req, fetched) if req.underlying else None,
        "interval": req.interval if req.underlying else None,
    }
    (req.out / MANIFEST).write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )
    return manifest


def _what(req: Request) -> str:
    if req.series:
        return f"series {req.series}"
    return f"event {req.event}" if req.event else f"market {req.market}"


def _check(req: Request) -> None:
    chosen = [x for x in (req.series, req.event, req.market) if x]
    if len(chosen) != 1:
        raise DownloadError("choose one of --series, --event or --market")
    if req.series:
        parse_series(req.series)  # DiscoveryError: an unknown series, one line
        if req.start_ms is None or req.end_ms is None:
            raise DownloadError(f"--series {req.series}: give the range with --start and --end")
    if req.start_ms is not None and req.end_ms is not None and req.end_ms <= req.start_ms:
        raise DownloadError(
            f"an empty range: --end {iso(req.end_ms)} is not after --start {iso(req.start_ms)}"
        )
    if not 1 <= req.fidelity <= 1440:
        raise DownloadError(f"--fidelity {req.fidelity}: expected minutes between 1 and 1440")
    if req.interval not in INTERVALS_S:
        raise DownloadError(f"--interval {req.interval!r}: expected one of {', '.join(INTERVALS_S)}")
    if req.out.exists() and (not req.out.is_dir() or any(req.out.iterdir())):
        raise DownloadError(f"{req.out}: exists and is not an empty folder; choose a new --out")


def _gamma(req: Request, get: Get, fetched: Fetched) -> None:
    events: list[Any]
    if req.series:
        series = parse_series(req.series)
        assert req.start_ms is not None
        assert req.end_ms is not None
        first = req.start_ms // 1000 - (req.start_ms // 1000) % series.length_s
        slugs = [series.slug(s) for s in range(first, math.ceil(req.end_ms / 1000), series.length_s)]
        events = []
        for i in range(0, len(slugs), SLUGS_PER_REQUEST):
            batch = slugs[i : i + SLUGS_PER_REQUEST]
            answer = get(req.gamma, "/events", [("slug", s) for s in batch] + [("limit", str(len(batch)))])
            if not isinstance(answer, list):
                raise DownloadError(f"{req.gamma}/events: expected a list of events")
            events += answer
    elif req.event:
        events = [get(req.gamma, f"/events/slug/{urllib.parse.quote(req.event)}", [])]
    else:
        row = get(req.gamma, f"/markets/slug/{urllib.parse.quote(req.market or '')}", [])
        events = [{"slug": req.market, "markets": [row]}]
    for event in events:
        if not isinstance(event, Mapping):
            continue
        kept = []
        for row in event.get("markets") or []:
            try:
                market = parse_market(row, event)
            except ParseError as exc:
                fetched.skipped.append(f"{event.get('slug', '?')}: {exc}")
                continue
            if not _in_range(req, market):
                continue
            fetched.markets.append(market)
            kept.append(row)
        if kept:
            fetched.raw.append({**event, "markets": kept})
    fetched.markets.sort(key=lambda m: (m.end_ms, m.condition_id))


def _in_range(req: Request, m: GammaMarket) -> bool:
    start = m.start_ms if m.start_ms is not None else m.end_ms
    if req.start_ms is not None and m.end_ms <= req.start_ms:
        return False
    return not (req.end_ms is not None and start >= req.end_ms)


def _books(req: Request, get: Get, fetched: Fetched) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["timestamp", "token_id", "price", "best_bid", "best_ask"])
    for m in fetched.markets:
        start = (m.start_ms if m.start_ms is not None else m.end_ms - 3_600_000) // 1000
        end = m.end_ms // 1000
        if req.start_ms is not None:
            start = max(start, req.start_ms // 1000)
        if req.end_ms is not None:
            end = min(end, math.ceil(req.end_ms / 1000))
        for token in (m.up_token, m.down_token):
            params = [
                ("market", token),
                ("startTs", str(start)),
                ("endTs", str(end)),
                ("fidelity", str(req.fidelity)),
            ]
            body = get(req.clob, "/prices-history", params)
            history = body.get("history") if isinstance(body, Mapping) else body
            if not isinstance(history, list):
                raise DownloadError(
                    f"{req.clob}/prices-history: expected {{'history': [...]}} for token {token}"
                )
            rows = 0
            for point in history:
                if not isinstance(point, Mapping) or "t" not in point or "p" not in point:
                    continue
                p = Decimal(str(point["p"]))
                bid, ask = book_from_price(p * ONE, tick=m.tick, spread=2 * m.tick)
                writer.writerow([point["t"], token, point["p"], _price(bid), _price(ask)])
                rows += 1
            fetched.points += rows
            if not rows:
                fetched.empty_tokens.append(token)
    return buf.getvalue()


def _price(micros: int) -> str:
    return f"{micros / ONE:.6f}".rstrip("0").rstrip(".")


def _symbol(req: Request, fetched: Fetched) -> str:
    if req.symbol:
        return req.symbol
    coin = ""
    if req.series:
        coin = parse_series(req.series).coin
    elif fetched.markets and fetched.markets[0].crypto is not None:
        coin = fetched.markets[0].crypto.asset
    if not coin:
        raise DownloadError(
            "cannot tell the underlying's coin: give --symbol (e.g. BTCUSDT) or --skip-underlying"
        )
    return coin.upper() + "USDT"


def _underlying(req: Request, get: Get, fetched: Fetched) -> str:
    symbol = _symbol(req, fetched)
    size_ms = INTERVALS_S[req.interval] * 1000
    first = min((m.start_ms or m.end_ms) for m in fetched.markets)
    last = max(m.end_ms for m in fetched.markets)
    start = (
        req.start_ms if req.start_ms is not None else first
    ) - size_ms  # a candle before the first window
    end = last if req.end_ms is None else min(last, req.end_ms)
    lines = ["timestamp,price"]
    cursor = start
    while cursor <= end:
        params = [
            ("symbol", symbol),
            ("interval", req.interval),
            ("startTime", str(cursor)),
            ("endTime", str(end)),
            ("limit", str(KLINES_PER_PAGE)),
        ]
        page = get(req.binance, "/api/v3/klines", params)
        if not isinstance(page, list):
            raise DownloadError(f"{req.binance}/api/v3/klines: expected a list of candles for {symbol}")
        if not page:
            break
        for kline in page:
            # the close is known when the candle closes: close_time (its last ms) + 1
            lines.append(f"{int(kline[6]) + 1},{kline[4]}")
        fetched.candles += len(page)
        cursor = int(page[-1][0]) + size_ms
        if len(page) < KLINES_PER_PAGE:
            break
    if fetched.candles == 0:
        raise DownloadError(f"{req.binance}/api/v3/klines: no {symbol} candle in the range")
    return "\n".join(lines) + "\n"


def read_folder(folder: Path) -> tuple[Path, dict[str, Any]]:
    """A downloaded folder → (the books file, the loader options it needs)."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise DownloadError(
            f"{folder}: is a directory without {MANIFEST}; expected a `bot download` folder or a file"
        )
    try:
        info = json.loads(manifest.read_text())
        books = folder / info["books"]
    except json.JSONDecodeError as exc:
        raise DownloadError(
            f"{manifest}:{exc.lineno}:{exc.colno}: not a download manifest ({exc.msg})"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DownloadError(f"{manifest}: not a download manifest ({exc})") from None
    options: dict[str, Any] = {}
    if info.get("metadata"):
        options["metadata"] = str(folder / info["metadata"])
    return books, options
