"""A local stand-in for Polymarket's Gamma API (market discovery), for tests and demos.

    from bot.testing.gamma_server import GammaServer

    with GammaServer(series=["btc-updown-5m", "eth-updown-15m"]) as gamma:
        gamma.freeze(1_790_000_000)                      # its clock; default: the real time
        gamma.fault("btc-updown-5m-1790000100", "no_tokens")
        gamma.fail_next("/events", status=503)           # the next /events answers 503
        gamma.slow(3.0, "/events")                       # every /events answer waits 3 s
        client = GammaClient(gamma.url)

Each series window is generated on request, with the shapes of the real API
(../shared/polymarket-realtime.md §1.3): an event per window whose slug ends in the start's
Unix seconds, one market with ``clobTokenIds``/``outcomes``/``outcomePrices`` as JSON strings,
``eventStartTime``, ``endDate``, ``orderPriceMinTickSize``, ``orderMinSize``, ``feeSchedule``,
``negRisk``, ``acceptingOrders``, ``cryptoMarketConfig`` (Chainlink 60 s TWAP) and the rules
text. Windows are listed ``listed_ahead_s`` ahead (a day, as Polymarket does) and kept for
``history_s``; a window resolves ``resolve_after_s`` after its end (closed, UMA status
resolved, prices 1/0; the winner is fixed per slug or set with `set_winner`).

Endpoints: ``/events`` (``slug`` repeated, or ``series_slug`` with ``closed``/``limit``),
``/events/slug/<slug>``, ``/markets`` (``slug``, ``condition_ids``, ``clob_token_ids``),
``/markets/slug/<slug>``, ``/series?slug=``, ``/public-search?q=``.

Faults per window (`fault(slug, kind)`): ``malformed`` (clobTokenIds is not JSON),
``no_tokens`` (no clobTokenIds), ``stale`` (answers as if cached: closed=false long after
the end), ``twap30`` (a 30 s TWAP rule), ``binance`` (settles on a Binance candle, no
cryptoMarketConfig), ``reversed`` (outcomes listed Down, Up), ``not_accepting``,
``hidden`` (not listed); `resolve_late(slug, seconds)` publishes that window's outcome
`seconds` after the usual ``resolve_after_s`` (a late resolution). Server faults: `fail_next`
(an HTTP status), `slow` (a delay), `cache_age(seconds)` (every answer is computed at the
server's time minus `seconds`, as a CDN cache a minute stale would give; 0 turns it off).
Events added with `add_event` (any shape, e.g. a non-crypto market) are served as given.

By hand: ``python -m bot.testing.gamma_server --port 8081 --series btc-updown-5m``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from bot.markets.series import Series, parse_series, series_of_slug

FAULTS = frozenset(
    {"malformed", "no_tokens", "stale", "twap30", "binance", "reversed", "not_accepting", "hidden"}
)
SERIES_IDS = {"btc-5m": "10684", "eth-5m": "10683", "xrp-5m": "10685", "sol-5m": "10686"}
NAMES = {"btc": "Bitcoin", "eth": "Ethereum", "sol": "Solana", "xrp": "XRP", "doge": "Dogecoin"}
RULES = (
    'This market will resolve to "Up" if the time-weighted average price (TWAP) of {name}, generated'
    " by Chainlink, of the time range specified in the title is greater than or equal to the price at"
    ' the beginning of that range. Otherwise, it will resolve to "Down".\nThe resolution source for'
    " this market is information from Chainlink, specifically the {coin_up}/USD {lookback}-second TWAP"
    " data stream available at https://data.chain.link/streams/{coin}-usd-twap-{lookback}s-streams."
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digits(*parts: object) -> str:
    """A decimal token id (77 digits, like a uint256) derived from `parts`."""
    return str(int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest(), 16))[:77]


def _hex(*parts: object) -> str:
    return "0x" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


class GammaServer:
    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        series: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        listed_ahead_s: int = 86_400,
        history_s: int = 86_400,
        resolve_after_s: float = 60.0,
    ) -> None:
        self.clock = clock
        self.listed_ahead_s, self.history_s, self.resolve_after_s = listed_ahead_s, history_s, resolve_after_s
        self.series: dict[str, Series] = {}
        for name in series:
            self.add_series(name)
        self._lock = threading.Lock()
        self._frozen: float | None = None
        self._faults: dict[str, set[str]] = {}
        self._winners: dict[str, str] = {}
        self._late: dict[str, float] = {}  # slug -> extra seconds before its outcome is published
        self._cache_age_s = 0.0
        self._events: dict[str, dict[str, Any]] = {}  # added by hand, by slug
        self._fail: list[tuple[str, int, int]] = []  # (path prefix, status, remaining)
        self._slow: dict[str, float] = {}
        self.requests: list[str] = []  # "GET /events?slug=..." in arrival order
        # eventMetadata.priceToBeat: published at the window's end, as Polymarket does, or this
        # many seconds after its start when set
        self.price_to_beat = 100_000.0
        self.price_to_beat_after_s: float | None = None
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> GammaServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="gamma-server",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> GammaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test API ------------------------------------------------------------------------------
    def now(self) -> float:
        return self._frozen if self._frozen is not None else self.clock()

    def freeze(self, ts: float | None) -> None:
        """Pin the server's clock at `ts` (Unix seconds); None goes back to `clock`."""
        self._frozen = ts

    def add_series(self, name: str) -> Series:
        series = parse_series(name)
        self.series[series.name] = series
        return series

    def add_event(self, event: dict[str, Any]) -> None:
        """Serve `event` (and its markets) exactly as given."""
        with self._lock:
            self._events[str(event["slug"])] = copy.deepcopy(event)

    def fault(self, slug: str, kind: str) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}: one of {sorted(FAULTS)}")
        with self._lock:
            self._faults.setdefault(slug, set()).add(kind)

    def clear_faults(self, slug: str | None = None) -> None:
        with self._lock:
            if slug is None:
                self._faults.clear()
            else:
                self._faults.pop(slug, None)

    def set_winner(self, slug: str, outcome: str) -> None:
        """ "Up", "Down", "Split" (0.5 each) or "Unreadable" (0.6 each: bad data)."""
        self._winners[slug] = outcome

    def resolve_late(self, slug: str, seconds: float) -> None:
        """Publish `slug`'s outcome `seconds` later than ``resolve_after_s`` (0: on time)."""
        with self._lock:
            self._late[slug] = seconds

    def resolves_at(self, slug: str) -> float:
        """When (the server's clock, Unix seconds) `slug`'s outcome is published."""
        found = series_of_slug(slug)
        if found is None:
            raise KeyError(slug)
        series, start = found
        return start + series.length_s + self.resolve_after_s + self._late.get(slug, 0.0)

    def winner(self, slug: str) -> str:
        """ "Up", "Down" or "Split": the outcome `slug` resolves to."""
        return self._winners.get(slug) or ("Up" if int(_hex(slug, "winner"), 16) % 2 == 0 else "Down")

    def cache_age(self, seconds: float) -> None:
        """Answer from a snapshot `seconds` old (every window computed at now - `seconds`)."""
        self._cache_age_s = max(0.0, seconds)

    def fail_next(self, path: str, status: int = 503, count: int = 1) -> None:
        """The next `count` requests whose path starts with `path` answer `status`."""
        with self._lock:
            self._fail.append((path, status, count))

    def slow(self, seconds: float, path: str = "/") -> None:
        """Requests whose path starts with `path` wait `seconds` before answering (0: no more)."""
        with self._lock:
            if seconds > 0:
                self._slow[path] = seconds
            else:
                self._slow.pop(path, None)

    def window(self, series: str, offset: int = 0) -> str:
        """The slug of the window open now in `series`, or `offset` windows later."""
        s = self.series[parse_series(series).name]
        now = int(self.now())
        return s.slug(now - now % s.length_s + offset * s.length_s)

    def token_ids(self, slug: str) -> tuple[str, str]:
        """(UP token, DOWN token) of a generated window."""
        return _digits(slug, "up"), _digits(slug, "down")

    def condition_id(self, slug: str) -> str:
        return _hex(slug, "condition")

    # -- the data ------------------------------------------------------------------------------
    def event(self, slug: str) -> dict[str, Any] | None:
        with self._lock:
            if slug in self._events:
                return copy.deepcopy(self._events[slug])
            faults = set(self._faults.get(slug, ()))
        found = series_of_slug(slug)
        if found is None or found[0].name not in self.series or "hidden" in faults:
            return None
        series, start = found
        now = self.now() - self._cache_age_s
        if start % series.length_s or not now - self.history_s <= start <= now + self.listed_ahead_s:
            return None
        return self._generate(series, start, now, faults)

    def _generate(self, series: Series, start: int, now: float, faults: set[str]) -> dict[str, Any]:
        slug, end = series.slug(start), start + series.length_s
        name = NAMES.get(series.coin, series.coin.upper())
        lookback = 30 if "twap30" in faults else 60
        gamma_series = f"{series.coin}-up-or-down-{series.timeframe}"
        title = f"{name} Up or Down - {_iso(start)[:16].replace('T', ' ')}-{_iso(end)[11:16]} UTC"
        resolved = now >= end + self.resolve_after_s + self._late.get(slug, 0.0) and "stale" not in faults
        winner = self.winner(slug)
        prices = (
            {"Up": ["1", "0"], "Down": ["0", "1"], "Split": ["0.5", "0.5"], "Unreadable": ["0.6", "0.6"]}[
                winner
            ]
            if resolved
            else ["0.5", "0.5"]
        )
        up, down = self.token_ids(slug)
        outcomes, tokens = ["Up", "Down"], [up, down]
        if "reversed" in faults:
            outcomes, tokens, prices = outcomes[::-1], tokens[::-1], prices[::-1]
        rules = RULES.format(name=name, coin=series.coin, coin_up=series.coin.upper(), lookback=lookback)
        source = f"https://data.chain.link/streams/{series.coin}-usd-twap-{lookback}s-streams"
        crypto: dict[str, Any] | None = {
            "id": f"{series.coin}-{series.timeframe}-twap-{lookback}",
            "asset": series.coin,
            "duration": series.timeframe,
            "twapEnabled": True,
            "twapLookbackSeconds": lookback,
        }
        if "binance" in faults:
            source, crypto = f"https://www.binance.com/en/trade/{series.coin.upper()}_USDT", None
            rules = (
                f'This market will resolve to "Up" if the close of the Binance {series.coin.upper()}/USDT'
                " 1 hour candle is greater than or equal to its open."
            )
        market: dict[str, Any] = {
            "id": str(int(_hex(slug, "id"), 16) % 10_000_000),
            "question": title,
            "conditionId": self.condition_id(slug),
            "slug": slug,
            "resolutionSource": source,
            "endDate": _iso(end),
            "startDate": _iso(start - 86_400),
            "description": rules,
            "outcomes": json.dumps(outcomes),
            "outcomePrices": json.dumps(prices),
            "active": True,
            "closed": resolved,
            "questionID": _hex(slug, "question"),
            "enableOrderBook": True,
            "orderPriceMinTickSize": 0.01,
            "orderMinSize": 5,
            "acceptingOrders": not resolved and "not_accepting" not in faults,
            "acceptingOrdersTimestamp": _iso(start - 86_400),
            "clobTokenIds": json.dumps(tokens),
            "negRisk": False,
            "eventStartTime": _iso(start),
            "feesEnabled": True,
            "feeType": "crypto_fees_v2",
            "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": True, "rebateRate": 0.2},
            "makerBaseFee": 1000,
            "takerBaseFee": 1000,
            "umaResolutionStatus": "resolved" if resolved else None,
            "umaResolutionStatuses": "[]",
            "automaticallyResolved": True,
            "rfqEnabled": False,
            "clearBookOnStart": False,
            "cryptoMarketConfig": crypto,
            "cryptoMarketConfigId": crypto["id"] if crypto else None,
        }
        if resolved:
            market["closedTime"] = _iso(end + self.resolve_after_s + self._late.get(slug, 0.0))
        if "malformed" in faults:
            market["clobTokenIds"] = '["' + up + '", '  # cut short: not JSON
        if "no_tokens" in faults:
            del market["clobTokenIds"]
        series_row = {
            "id": SERIES_IDS.get(f"{series.coin}-{series.timeframe}", _digits(gamma_series)[:5]),
            "slug": gamma_series,
            "ticker": gamma_series,
            "title": f"{name} Up or Down {series.timeframe}",
            "recurrence": series.timeframe,
            "seriesType": "single",
        }
        event: dict[str, Any] = {
            "id": str(int(_hex(slug, "event"), 16) % 10_000_000),
            "ticker": slug,
            "slug": slug,
            "title": title,
            "description": rules,
            "resolutionSource": source,
            "startDate": market["startDate"],
            "startTime": _iso(start),
            "endDate": _iso(end),
            "active": True,
            "closed": resolved,
            "negRisk": False,
            "enableOrderBook": True,
            "seriesSlug": gamma_series,
            "series": [series_row],
            "markets": [market],
        }
        after = self.price_to_beat_after_s
        if (now >= end if after is None else now >= start + after) and "stale" not in faults:
            event["eventMetadata"] = {"priceToBeat": self.price_to_beat}
            if now >= end:
                event["eventMetadata"]["finalPrice"] = 100_010.0
        return event

    def _window_events(self, around: float) -> list[dict[str, Any]]:
        """Every listed window of every series (for lookups by id, series and search)."""
        out = []
        for series in self.series.values():
            first = int(around - self.history_s) // series.length_s * series.length_s + series.length_s
            for start in range(first, int(around + self.listed_ahead_s) + 1, series.length_s):
                event = self.event(series.slug(start))
                if event is not None:
                    out.append(event)
        return out

    def _all_markets(self) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
        with self._lock:
            added = [copy.deepcopy(e) for e in self._events.values()]
        for event in added + self._window_events(self.now()):
            for market in event.get("markets") or []:
                yield event, market

    # -- HTTP ----------------------------------------------------------------------------------
    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/events":
            return 200, self._events_list(query)
        if path.startswith("/events/slug/"):
            event = self.event(unquote(path[len("/events/slug/") :]))
            return (200, event) if event is not None else (404, {"error": "event not found"})
        if path == "/markets":
            return 200, self._markets_list(query)
        if path.startswith("/markets/slug/"):
            slug = unquote(path[len("/markets/slug/") :])
            for event, market in self._markets_matching(lambda m: m.get("slug") == slug, slug):
                return 200, _with_event(market, event)
            return 404, {"error": "market not found"}
        if path == "/series":
            return 200, self._series_list(query)
        if path == "/public-search":
            return 200, self._search(query.get("q", [""])[0])
        return 404, {"error": f"no route {path}"}

    def _events_list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        limit = int(query.get("limit", ["20"])[0])
        if "slug" in query:
            found = (self.event(s) for s in query["slug"])
            return [e for e in found if e is not None][:limit]
        wanted = set(query.get("series_slug", []))
        closed = query.get("closed", ["false"])[0] == "true"
        rows = [
            e
            for e in self._window_events(self.now())
            if (not wanted or e["seriesSlug"] in wanted) and e["closed"] is closed
        ]
        rows.sort(key=lambda e: e["endDate"])
        return rows[:limit]

    def _markets_matching(
        self, match: Callable[[dict[str, Any]], bool], slug_hint: str = ""
    ) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
        if slug_hint:
            event = self.event(slug_hint)
            if event is not None:
                yield from ((event, m) for m in event["markets"] if match(m))
                return
        yield from ((e, m) for e, m in self._all_markets() if match(m))

    def _markets_list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        conditions = {c.lower() for c in query.get("condition_ids", [])}
        tokens = set(query.get("clob_token_ids", []))
        slugs = set(query.get("slug", []))

        def match(market: dict[str, Any]) -> bool:
            ids = str(market.get("clobTokenIds") or "")
            return (
                str(market.get("conditionId", "")).lower() in conditions
                or any(t in ids for t in tokens)
                or market.get("slug") in slugs
            )

        hint = next(iter(slugs)) if len(slugs) == 1 else ""
        return [_with_event(m, e) for e, m in self._markets_matching(match, hint)][:100]

    def _series_list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        out = []
        now = self.now()
        for series in self.series.values():
            slug = f"{series.coin}-up-or-down-{series.timeframe}"
            if query.get("slug") and slug not in query["slug"] and series.name not in query["slug"]:
                continue
            start = int(now) - int(now) % series.length_s
            events = [self.event(series.slug(start + i * series.length_s)) for i in range(3)]
            row = dict(self._generate(series, start, now, set())["series"][0])
            row["events"] = [{k: v for k, v in e.items() if k != "markets"} for e in events if e]
            out.append(row)
        return out

    def _search(self, text: str) -> dict[str, Any]:
        needle = text.lower().strip()
        now = self.now()
        with self._lock:
            events = [copy.deepcopy(e) for e in self._events.values()]
        for series in self.series.values():
            start = int(now) - int(now) % series.length_s
            events += [
                e for e in (self.event(series.slug(start + i * series.length_s)) for i in range(2)) if e
            ]
        hits = [
            e for e in events if needle in str(e.get("title", "")).lower() or needle in str(e.get("slug", ""))
        ]
        return {
            "events": hits[:10],
            "tags": [],
            "profiles": [],
            "pagination": {"hasMore": False, "totalResults": len(hits)},
        }

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        with self._lock:
            self.requests.append(f"{handler.command} {handler.path}")
            delay = max((s for p, s in self._slow.items() if parts.path.startswith(p)), default=0.0)
            failure = None
            for i, (prefix, status, left) in enumerate(self._fail):
                if parts.path.startswith(prefix):
                    failure = status
                    self._fail[i] = (prefix, status, left - 1)
                    if left <= 1:
                        del self._fail[i]
                    break
        if delay:
            time.sleep(delay)
        if failure is not None:
            status, body = failure, {"error": f"injected HTTP {failure}"}
        elif handler.command != "GET":
            status, body = 405, {"error": "method not allowed"}
        else:
            try:
                status, body = self._route(parts.path, parse_qs(parts.query))
            except (ValueError, KeyError) as exc:
                status, body = 400, {"error": f"bad request: {exc}"}
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (a test of a slow answer)


def _with_event(market: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """A /markets row: the market with a short reference to its event, as Gamma nests it."""
    row = dict(market)
    row["events"] = [{k: event.get(k) for k in ("id", "slug", "title", "seriesSlug", "startTime", "series")}]
    return row


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each keep-alive request stalls ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        cast(_HTTPServer, self.server).app._serve(self)

    do_POST = do_GET


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: GammaServer) -> None:
        self.app = app
        super().__init__(address, _Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Gamma API with rolling up/down windows.")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--series", action="append", default=[], help="e.g. btc-updown-5m (repeatable)")
    args = parser.parse_args(argv)
    server = GammaServer(args.port, series=args.series or ["btc-updown-5m", "eth-updown-15m"]).start()
    print(f"Gamma stand-in on {server.url} serving {', '.join(server.series)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
