"""Which markets to trade now and next: recurring series windows and explicit markets, from Gamma.

`Discovery.upcoming(now_ms, horizon_ms)` is meant to be called by a live loop over and over
(it is idempotent): it computes the slugs of each series' windows from the open one to
``now + horizon`` (never less than ``lead_ms`` ahead, so each window is read and validated
at least a minute before it opens), fetches the ones it has not seen or has not re-read for
``refresh_ms`` in one batched ``/events?slug=...`` request, and returns every window that has
not ended, each with a status:

    OPEN        the window is live and tradeable
    NEXT        validated, opens later
    SKIPPED     not traded, with the one-line reason (malformed row, no token ids, rules
                that differ from the family the bot knows, closed, not accepting orders...)
    NOT_LISTED  Gamma has no such event (yet)
    UNCHECKED   Gamma could not be read (5xx, timeout): retried at the next call

A window stays in the cache after its end only if it was tradeable: `resolutions(now_ms)`
re-reads those (every ``resolve_poll_ms``) and returns each once it is resolved by the rule
in bot.markets.gamma, then forgets it. Explicit markets (a slug, a condition id or a token
id) go through the same checks; those not of the crypto up/down kind are GENERIC.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.errors import VenueError
from bot.markets.client import GammaClient
from bot.markets.gamma import (
    GammaMarket,
    MissingTokens,
    Resolution,
    event_list,
    event_markets,
    parse_market,
    string_list,
)
from bot.markets.rules import GENERIC, TWAP_FAMILY, looks_up_down, market_difference, rule_difference
from bot.markets.series import DiscoveryError, Series, parse_series_list, series_of_slug
from bot.model import Market, iso
from bot.venues.polymarket.wire import ParseError

_CONDITION = re.compile(r"^0x[0-9a-fA-F]{64}$")


class Status(enum.StrEnum):
    OPEN = "OPEN"
    NEXT = "NEXT"
    SKIPPED = "SKIPPED"
    NOT_LISTED = "NOT_LISTED"
    UNCHECKED = "UNCHECKED"
    ENDED = "ENDED"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True, slots=True)
class DiscoveredMarket:
    """One window or explicit market, as discovery judged it at `checked_ms`."""

    key: str  # the event slug of a window, or the explicit reference as given
    series: str  # btc-updown-5m; "" for an explicit market
    status: Status
    reason: str  # why it is SKIPPED, NOT_LISTED, UNCHECKED or not resolved yet
    start_ms: int | None
    end_ms: int | None
    checked_ms: int | None  # when Gamma was last read for it (None: never)
    first_valid_ms: int | None = None  # when it was first seen tradeable
    gamma: GammaMarket | None = None
    family: str = ""
    resolution: Resolution | None = None
    instrument: str = ""
    explicit: bool = False  # named one by one, not a series window

    @property
    def tradeable(self) -> bool:
        return self.status in (Status.OPEN, Status.NEXT)

    @property
    def market(self) -> Market | None:
        return self.gamma.to_market(self.instrument) if self.gamma else None

    def validated_ahead(self, lead_ms: int) -> bool:
        """First seen tradeable at least `lead_ms` before it opened."""
        return (
            self.first_valid_ms is not None
            and self.start_ms is not None
            and self.first_valid_ms <= self.start_ms - lead_ms
        )

    def to_dict(self) -> dict[str, Any]:
        g = self.gamma
        out: dict[str, Any] = {
            "key": self.key,
            "explicit": self.explicit,
            "series": self.series or None,
            "status": self.status.value,
            "reason": self.reason or None,
            "family": self.family or None,
            "start": iso(self.start_ms) if self.start_ms is not None else None,
            "end": iso(self.end_ms) if self.end_ms is not None else None,
            "checked": iso(self.checked_ms) if self.checked_ms is not None else None,
        }
        if g is not None:
            out.update(
                slug=g.slug,
                question=g.question,
                condition_id=g.condition_id,
                up_token=g.up_token,
                down_token=g.down_token,
                tick=g.tick / 1_000_000,
                min_size=g.min_size / 1_000_000,
                fees_enabled=g.fees_enabled,
                fee_rate=g.fee_rate_ppm / 1_000_000,
                fee_exponent=g.fee_exponent,
                fee_taker_only=g.fee_taker_only,
                neg_risk=g.neg_risk,
                accepting_orders=g.accepting_orders,
                closed=g.closed,
                twap_lookback_s=g.crypto.twap_lookback_s if g.crypto else None,
                resolution_source=g.resolution_source or None,
            )
        if self.resolution is not None:
            r = self.resolution
            out["winner"] = r.winner.value if r.winner else "SPLIT"
        return out


@dataclass(slots=True)
class _Entry:
    """What discovery knows of one key: the static verdict and the parsed market."""

    key: str
    series: Series | None
    start_ms: int | None
    end_ms: int | None
    checked_ms: int | None = None
    gamma: GammaMarket | None = None
    problem: str = ""  # a static reason (malformed, rules differ...)
    missing: str = ""  # NOT_LISTED reason
    unchecked: str = ""  # the last fetch failed
    first_valid_ms: int | None = None
    family: str = ""
    resolved: Resolution | None = None
    polled_ms: int = field(default=0)
    explicit: bool = False


def judge(
    key: str, series: Series | None, start_ms: int | None, rows: list[Any], event: Any, now_ms: int
) -> _Entry:
    """A fresh `_Entry` for `key` from the market rows Gamma gave (maybe none)."""
    length = series.length_s * 1000 if series else None
    entry = _Entry(key, series, start_ms, start_ms + length if start_ms is not None and length else None)
    entry.checked_ms = now_ms
    if not rows:
        entry.missing = f"Gamma has no market {key} (not listed yet?)"
        return entry
    if len(rows) != 1:
        entry.problem = f"the event has {len(rows)} markets: name one by its slug or condition id"
        return entry
    try:
        gm = parse_market(rows[0], event if isinstance(event, Mapping) else None)
    except MissingTokens:
        entry.problem = "no token ids on Gamma (clobTokenIds missing or empty): nothing to trade"
        return entry
    except ParseError as exc:
        entry.problem = f"malformed Gamma row: {exc}"
        return entry
    entry.gamma = gm
    if series is not None and start_ms is not None:
        if gm.start_ms != start_ms:
            shown = iso(gm.start_ms) if gm.start_ms is not None else "missing"
            entry.problem = f"eventStartTime {shown} is not the slug's start {iso(start_ms)}"
            return entry
        if gm.end_ms - start_ms != series.length_s * 1000:
            length_s = (gm.end_ms - start_ms) // 1000
            entry.problem = f"window is {length_s} s long, the series has {series.length_s} s"
            return entry
    entry.start_ms, entry.end_ms = gm.start_ms, gm.end_ms
    if series is not None or looks_up_down(gm):
        if series is None:
            found = series_of_slug(gm.event_slug) or series_of_slug(gm.slug)
            entry.series = found[0] if found else None
        entry.family = TWAP_FAMILY
        entry.problem = rule_difference(gm, entry.series) or ""
    else:
        entry.family = GENERIC
        entry.problem = market_difference(gm) or ""
    return entry


def _view(entry: _Entry, now_ms: int) -> DiscoveredMarket:
    """The entry's status at `now_ms` (a NEXT window becomes OPEN without a new fetch)."""
    status, reason = Status.SKIPPED, entry.problem
    gm = entry.gamma
    resolution = entry.resolved
    if entry.resolved is not None:
        status, reason = Status.RESOLVED, ""
    elif entry.unchecked and entry.checked_ms is None:
        status, reason = Status.UNCHECKED, entry.unchecked
    elif entry.missing:
        status, reason = Status.NOT_LISTED, entry.missing
    elif entry.problem or gm is None:
        status = Status.SKIPPED
    elif now_ms >= gm.end_ms:
        resolution = gm.resolution()
        if resolution is not None:
            status, reason = Status.RESOLVED, ""
        else:
            status, reason = Status.ENDED, f"awaiting resolution: {gm.pending_reason()}"
    elif gm.closed:
        reason = "closed before its end"
    elif not gm.enable_order_book:
        reason = "no order book (enableOrderBook=false)"
    elif not gm.active or not gm.accepting_orders:
        reason = "not accepting orders"
    elif gm.start_ms is not None and now_ms < gm.start_ms:
        status = Status.NEXT
    else:
        status = Status.OPEN
    if entry.unchecked and entry.checked_ms is not None and status is not Status.RESOLVED:
        reason = f"{reason}; last refresh failed: {entry.unchecked}".lstrip("; ")
    return DiscoveredMarket(
        key=entry.key,
        series=entry.series.name if entry.series else "",
        status=status,
        reason=reason,
        start_ms=entry.start_ms,
        end_ms=entry.end_ms,
        checked_ms=entry.checked_ms,
        first_valid_ms=entry.first_valid_ms,
        gamma=gm,
        family=entry.family,
        resolution=resolution,
        instrument=entry.series.instrument if entry.series else "",
        explicit=entry.explicit,
    )


class Discovery:
    """The windows of `series` and the `markets` named one by one, read from Gamma."""

    def __init__(
        self,
        client: GammaClient,
        series: Sequence[str] = (),
        markets: Sequence[str] = (),
        *,
        lead_ms: int = 60_000,
        refresh_ms: int = 60_000,
        resolve_poll_ms: int = 15_000,
    ) -> None:
        self.client = client
        self.series = parse_series_list(list(series))
        self.refs = [parse_ref(m) for m in markets]
        self.lead_ms, self.refresh_ms, self.resolve_poll_ms = lead_ms, refresh_ms, resolve_poll_ms
        self.errors: list[str] = []  # the last call's failures, one line each
        self._entries: dict[str, _Entry] = {}
        self._reported: set[str] = set()  # condition ids whose resolution was returned

    # -- the live loop's calls ----------------------------------------------------------------
    def upcoming(
        self,
        now_ms: int,
        horizon_ms: int,
        back: int = 0,
        ahead: int | None = None,
        also: Iterable[int] = (),
    ) -> list[DiscoveredMarket]:
        """Every window open now or opening within the horizon (at least `lead_ms`), plus the
        explicit markets; `back` also lists that many ended windows per series; `ahead`, when
        given, sets each series' horizon to `lead_ms` plus that many of its own windows; `also`:
        window starts (Unix seconds) listed whenever ended, in each series whose grid they are on
        (the windows a restart holds, however long the bot was down)."""
        self.errors = []
        wanted: dict[str, tuple[Series, int]] = {}
        for s in self.series:
            horizon = (
                max(horizon_ms, self.lead_ms) if ahead is None else self.lead_ms + ahead * s.length_s * 1000
            )
            for start in s.window_starts(now_ms, horizon, back):
                wanted[s.slug(start)] = (s, start * 1000)
            for start in also:
                if start % s.length_s == 0 and start * 1000 <= now_ms:
                    wanted[s.slug(start)] = (s, start * 1000)
        self._retire(now_ms, set(wanted))
        stale = [k for k in wanted if self._needs_fetch(k, now_ms)]
        if stale:
            self._fetch_windows(stale, wanted, now_ms)
        for ref in self.refs:
            if self._needs_fetch(ref.text, now_ms):
                self._fetch_explicit(ref, now_ms)
        keys = [k for k in [*wanted, *self._ref_keys()] if k in self._entries]
        views = []
        for key in keys:
            entry, view = self._entries[key], _view(self._entries[key], now_ms)
            if view.tradeable and entry.first_valid_ms is None:
                entry.first_valid_ms = now_ms
                view = replace(view, first_valid_ms=now_ms)
            views.append(view)
        return sorted(views, key=lambda v: (v.start_ms or 0, v.series, v.key))

    def resolutions(self, now_ms: int) -> list[DiscoveredMarket]:
        """Markets that ended while tradeable and are now resolved: each returned once."""
        self.errors = []
        due = [e for e in self._awaiting(now_ms) if now_ms - e.polled_ms >= self.resolve_poll_ms]
        for e in due:
            e.polled_ms = now_ms
        refs = set(self._ref_keys())
        windows = {
            e.key: (e.series, e.start_ms)
            for e in due
            if e.series is not None and e.start_ms is not None and e.key not in refs
        }
        if windows:
            self._fetch_windows(list(windows), windows, now_ms)
        due_keys = {e.key for e in due}
        for ref in self.refs:
            if ref.text in due_keys:
                self._fetch_explicit(ref, now_ms)
        done = []
        for entry in self._awaiting(now_ms):
            result = entry.gamma.resolution() if entry.gamma is not None else None
            if result is not None and result.condition_id not in self._reported:
                entry.resolved = result
                self._reported.add(result.condition_id)
                done.append(_view(entry, now_ms))
        return done

    def pending(self, now_ms: int) -> list[DiscoveredMarket]:
        """Markets that ended while tradeable and are not resolved yet."""
        return [_view(e, now_ms) for e in self._awaiting(now_ms)]

    def _awaiting(self, now_ms: int) -> list[_Entry]:
        return [
            e
            for e in self._entries.values()
            if e.gamma is not None
            and e.end_ms is not None
            and now_ms >= e.end_ms
            and not e.problem
            and not e.missing
            and e.resolved is None
        ]

    # -- internals ---------------------------------------------------------------------------
    def _ref_keys(self) -> list[str]:
        return [r.text for r in self.refs]

    def _needs_fetch(self, key: str, now_ms: int) -> bool:
        entry = self._entries.get(key)
        if entry is None or entry.checked_ms is None:
            return True
        if entry.end_ms is not None and now_ms >= entry.end_ms:
            return False  # ended: only resolutions() reads it again
        return now_ms - entry.checked_ms >= self.refresh_ms

    def _retire(self, now_ms: int, wanted: set[str]) -> None:
        """Forget windows that ended untradeable or left the horizon; keep those to resolve."""
        refs = set(self._ref_keys())
        for key, entry in list(self._entries.items()):
            if key in wanted or key in refs:
                continue
            ended = entry.end_ms is not None and now_ms >= entry.end_ms
            if not ended or entry.gamma is None or entry.problem or entry.missing or entry.resolved:
                del self._entries[key]

    def _fetch_windows(self, slugs: list[str], wanted: Mapping[str, tuple[Series, int]], now_ms: int) -> None:
        try:
            events = event_list(self.client.events_by_slugs(slugs), "events")
        except (VenueError, ParseError) as exc:
            self._failed(slugs, wanted, str(exc))
            return
        by_slug: dict[str, Any] = {}
        for i, item in enumerate(events):
            slug = item.get("slug")
            if isinstance(slug, str) and slug in wanted:
                by_slug[slug] = item
            elif not isinstance(slug, str):
                self.errors.append(f"events[{i}]: an event without a slug was ignored")
        for slug in slugs:
            series, start = wanted[slug]
            event = by_slug.get(slug)
            try:
                rows = event_markets(event, f"event {slug}") if event is not None else []
            except ParseError as exc:
                fresh = _Entry(slug, series, start, start + series.length_s * 1000, checked_ms=now_ms)
                fresh.problem = f"malformed Gamma row: {exc}"
            else:
                fresh = judge(slug, series, start, rows, event, now_ms)
            self._keep(slug, fresh)

    def _fetch_explicit(self, ref: Ref, now_ms: int) -> None:
        try:
            event, rows = ref.fetch(self.client)
        except (VenueError, ParseError) as exc:
            self._failed([ref.text], {}, str(exc))
            return
        found = series_of_slug(ref.text) if ref.kind == "slug" else None
        series, start = (found[0], found[1] * 1000) if found else (None, None)
        fresh = judge(ref.text, series, start, rows, event, now_ms)
        fresh.explicit = True
        self._keep(ref.text, fresh)

    def _keep(self, key: str, fresh: _Entry) -> None:
        old = self._entries.get(key)
        if old is not None:
            fresh.first_valid_ms, fresh.polled_ms = old.first_valid_ms, old.polled_ms
            ended = old.end_ms is not None and fresh.checked_ms is not None and fresh.checked_ms >= old.end_ms
            if ended and old.gamma is not None and not (old.problem or old.missing) and fresh.gamma is None:
                # a window that may hold positions is never dropped on one bad answer after its end
                old.unchecked = fresh.problem or fresh.missing
                return
        self._entries[key] = fresh

    def _failed(self, keys: list[str], wanted: Mapping[str, tuple[Series, int]], message: str) -> None:
        self.errors.append(message)
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                series, start = wanted.get(key, (None, None))
                end = start + series.length_s * 1000 if series is not None and start is not None else None
                entry = _Entry(key, series, start, end)
                self._entries[key] = entry
            entry.unchecked = message


# ---------------------------------------------------------------------------------------------
# explicit markets


@dataclass(frozen=True, slots=True)
class Ref:
    """A market named by the operator: a slug (or polymarket.com URL), condition id or token id."""

    text: str
    kind: str  # slug, condition, token
    value: str

    def fetch(self, client: GammaClient) -> tuple[Any, list[Any]]:
        """(its event when known, its market rows)."""
        if self.kind == "condition":
            return None, client.markets(condition_ids=[self.value])
        if self.kind == "token":
            rows = client.markets(token_ids=[self.value])
            return None, [r for r in rows if _has_token(r, self.value)] if rows else []
        event = client.event_by_slug(self.value)
        if event is not None:
            return event, event_markets(event, f"event {self.value}")
        row = client.market_by_slug(self.value)
        return None, [row] if row is not None else []


def _has_token(row: Any, token: str) -> bool:
    """Whether `row` lists `token` (an unreadable row is kept: judging it names the problem)."""
    if not isinstance(row, Mapping):
        return True
    try:
        return token in string_list(row.get("clobTokenIds") or "[]", "clobTokenIds")
    except ParseError:
        return True


def parse_ref(text: str) -> Ref:
    """Recognise a market reference; DiscoveryError for one that cannot be any of them."""
    raw = text.strip()
    if not raw:
        raise DiscoveryError("empty market reference")
    if "polymarket.com/" in raw:
        path = raw.split("polymarket.com/", 1)[1].split("?")[0].strip("/").split("/")
        if len(path) >= 2 and path[0] in ("event", "market"):
            return Ref(raw, "slug", path[-1])
        raise DiscoveryError(f"market {text!r}: expected a polymarket.com/event/<slug> URL")
    if raw.startswith("0x"):
        if not _CONDITION.match(raw):
            raise DiscoveryError(f"market {text!r}: a condition id is 0x and 64 hex digits")
        return Ref(raw, "condition", raw.lower())
    if raw.isdigit():
        return Ref(raw, "token", raw)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", raw):
        raise DiscoveryError(f"market {text!r}: expected a slug, a 0x condition id or a decimal token id")
    return Ref(raw, "slug", raw)


def search(client: GammaClient, text: str, now_ms: int, limit: int = 10) -> list[DiscoveredMarket]:
    """``/public-search``: every binary market of the matching events, judged like the others."""
    out = []
    for i, event in enumerate(client.search(text, limit)):
        slug = str(event.get("slug") or f"search[{i}]") if isinstance(event, Mapping) else f"search[{i}]"
        try:
            rows = event_markets(event, f"event {slug}")
        except ParseError as exc:
            entry = _Entry(slug, None, None, None, checked_ms=now_ms, problem=f"malformed Gamma row: {exc}")
            entry.explicit = True
            out.append(_view(entry, now_ms))
            continue
        for j, row in enumerate(rows):
            key = str(row.get("slug") or f"{slug}[{j}]") if isinstance(row, Mapping) else f"{slug}[{j}]"
            found = series_of_slug(slug)
            series, start = (found[0], found[1] * 1000) if found else (None, None)
            judged = judge(key, series, start, [row], event, now_ms)
            judged.explicit = True
            out.append(_view(judged, now_ms))
    return out
