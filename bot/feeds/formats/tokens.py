"""Rows per token: the two tokens of a market (UP and DOWN) become one market, never two.

A CSV with a ``token_id`` column has one row per book update of one token. Its rows are
read and checked per token (time order, window values) like rows per market, then paired:
the market of a token comes from the metadata (``formats.metadata``) or else the
``market_id`` column, its side from the metadata or else the ``token_outcome`` column
(Up/Down or Yes/No).

The market's book (the UP token's view, as every ``BookTick``) after each row is the best
of both tokens under Polymarket's complementary matching: bid = max(UP bid, 1 - DOWN ask),
ask = min(UP ask, 1 - DOWN bid), sizes added at equal prices. When the two books disagree
(UP ask + DOWN ask < 1 or UP bid + DOWN bid > 1: the combined book is crossed) the row's own
token's book is used alone and the row is counted in ``report.books_disagree``.

The outcome column, per token, may be the market's winner (UP/DOWN, Up/Down, Yes/No; the
same on both tokens), whether this token won (1/0, true/false) or the winning token's id; 0.5
(or 50-50, SPLIT) on both tokens says the market resolved 50/50.
Forms that contradict each other across the two tokens (UP on the UP token and DOWN on the
DOWN token reads as each token's side, not a result) are an error naming the column.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from bot.feeds.formats.core import _Collector, _MarketAcc, _MarketFields
from bot.feeds.formats.metadata import Metadata, TokenMeta
from bot.feeds.formats.values import (
    DOWN_WORDS,
    LOST_WORDS,
    MARKET_OUTCOMES,
    UP_WORDS,
    WON_WORDS,
    _outcome,
    is_split,
)
from bot.feeds.tape import DataError
from bot.model import ONE, BookTick, Outcome

# fills a market's ticks (acc) from its UP and DOWN tokens' rows
Combine = Callable[[_Collector, _MarketAcc, _MarketAcc | None, _MarketAcc | None], None]
OUTCOME_FORMS = (
    f"{MARKET_OUTCOMES} (the winner), 1/0 or true/false (did this token win) or the winning token id"
)


@dataclass(slots=True)
class TokenSeen:
    """What the rows of one token said about it (first non-blank values)."""

    market: str | None = None
    side: Outcome | None = None
    verdict: str = ""  # the outcome column's text, stripped
    line: int = 0  # first row


def token_columns(row: list[str], index: dict[str, int | None], names: dict[str, str]) -> tuple[Any, ...]:
    """(market key, token side, outcome text) of a row per token; ValueError if bad."""
    i = index["market_id"]
    market = row[i].strip() or None if i is not None else None
    i = index["token_outcome"]
    side = _outcome(row[i], names["token_outcome"]) if i is not None else None
    i = index["outcome"]
    verdict = row[i].strip() if i is not None else ""
    return market, side, verdict


def note_token(tokens: dict[str, TokenSeen], token: str, extra: tuple[Any, ...], line: int) -> str:
    """Record a row's token values; a reason if they contradict the token's earlier rows."""
    market, side, verdict = extra
    seen = tokens.get(token)
    if seen is None:
        tokens[token] = TokenSeen(market, side, verdict, line)
        return ""
    if market is not None and seen.market is not None and market != seen.market:
        return f"market_id {market} differs from {seen.market} in earlier rows of token {token}"
    if side is not None and seen.side is not None and side is not seen.side:
        return f"token_outcome {side.value} differs from {seen.side.value} in earlier rows of token {token}"
    if verdict and seen.verdict and verdict.upper() != seen.verdict.upper():
        return f"outcome {verdict!r} differs from {seen.verdict!r} in earlier rows of token {token}"
    seen.market = seen.market or market
    seen.side = seen.side or side
    seen.verdict = seen.verdict or verdict
    return ""


def pair_tokens(
    col: _Collector,
    by_token: dict[str, _MarketAcc],
    tokens: dict[str, TokenSeen],
    meta: Metadata | None,
    outcome_column: str,
    const_outcome: Outcome | None,
    combine: Combine | None = None,
) -> dict[str, _MarketAcc]:
    """The markets of the tokens' rows, each with the combined book of its two tokens
    (``combine``: how, from the tokens' rows; formats.columnar has one for arrays)."""
    pairs: dict[str, dict[Outcome, str]] = {}
    infos: dict[str, list[TokenMeta]] = {}
    for token, seen in tokens.items():
        info = meta.tokens.get(token) if meta is not None else None
        market = info.market_id if info is not None else seen.market
        side = info.side if info is not None else seen.side
        acc = by_token.get(token)
        if market is None or side is None:
            for _ in acc.ticks if acc is not None else ():
                col.ignore("row of a token the metadata does not know")
            continue
        pair = pairs.setdefault(market, {})
        if side in pair:
            raise DataError(
                col.located(
                    seen.line,
                    f"tokens {pair[side]} and {token} are both {side.value}"
                    f" in market {market}; expected one UP and one DOWN token",
                )
            )
        pair[side] = token
        infos.setdefault(market, []).extend([info] if info is not None else [])
    if meta is not None:
        col.report.notes.append(f"markets and tokens from {meta.path.name}")
        col.report.notes.extend(meta.notes)
    markets: dict[str, _MarketAcc] = {}
    for market_id, pair in pairs.items():
        accs = {side: by_token[token] for side, token in pair.items() if token in by_token}
        info = next(iter(infos[market_id]), None)
        acc = markets[market_id] = _MarketAcc(market_id)
        _market_values(col, acc, accs, infos[market_id])
        _trim_at_window_end(col, acc, accs)
        up, down = pair.get(Outcome.UP), pair.get(Outcome.DOWN)
        fields = info.fields if info is not None and info.fields is not None else col.fields
        if info is None or info.fields is None:
            fields = _with_tokens(fields, up, down)
        acc.fields = fields
        acc.tick_seen = min(a.tick_seen for a in accs.values())
        (combine or _combine)(col, acc, accs.get(Outcome.UP), accs.get(Outcome.DOWN))
        for token_acc in accs.values():  # the market's ticks stand for its tokens' rows now:
            token_acc.ticks = []  # let them go, market by market (the peak memory of a load)
        acc.last_ts = acc.ticks[-1].ts_ms if acc.ticks else None
        verdicts = [tokens[t].verdict for t in pair.values() if t in tokens]
        if const_outcome is None and len(verdicts) == 2 and all(is_split(v) for v in verdicts):
            acc.split = True  # 0.5 on both tokens: resolved 50/50
        else:
            acc.outcome = const_outcome or _winner(col, market_id, pair, tokens, outcome_column)
        if acc.outcome is None and info is not None:
            acc.outcome = info.outcome
    if col.report.books_disagree:
        col.report.notes.append(
            f"{col.report.books_disagree} row(s) where the two tokens' books disagree (crossed"
            " complements: UP ask + DOWN ask < 1 or UP bid + DOWN bid > 1); the row's own book was used"
        )
    return markets


def _trim_at_window_end(col: _Collector, acc: _MarketAcc, accs: dict[Outcome, _MarketAcc]) -> None:
    """Drop (and count) the tokens' rows at or after the market's window end."""
    if acc.window_end is None:
        raise DataError(
            f"{col.path}: market {acc.market_id} has no window end; expected a window_end column,"
            " the option window_end= or metadata"
        )
    for token_acc in accs.values():
        if token_acc.ticks and token_acc.ticks[-1].ts_ms >= acc.window_end:
            kept = [tick for tick in token_acc.ticks if tick.ts_ms < acc.window_end]
            for _ in range(len(token_acc.ticks) - len(kept)):
                col.ignore("row at or after window end")
            token_acc.ticks = kept


def _with_tokens(fields: _MarketFields, up: str | None, down: str | None) -> _MarketFields:
    if up is None or down is None:
        return fields
    return _MarketFields(
        instrument=fields.instrument,
        name=fields.name,
        tick=fields.tick,
        min_size=fields.min_size,
        fee_rate_ppm=fields.fee_rate_ppm,
        fee_exponent=fields.fee_exponent,
        fee_source=fields.fee_source,
        token_ids=(up, down),
    )


def _market_values(
    col: _Collector, acc: _MarketAcc, accs: dict[Outcome, _MarketAcc], infos: list[TokenMeta]
) -> None:
    """Window and strike from the tokens' rows (UP first), else from the metadata."""
    for name in ("window_end", "window_start", "strike"):
        values = [getattr(a, name) for a in accs.values() if getattr(a, name) is not None]
        if len(set(values)) > 1:
            col.report.notes.append(f"{acc.market_id}: the two tokens' rows differ in {name}; used the first")
        if values:
            setattr(acc, name, values[0])
    for info in infos:
        acc.window_end = acc.window_end if acc.window_end is not None else info.window_end
        acc.window_start = acc.window_start if acc.window_start is not None else info.window_start


def _combine(col: _Collector, acc: _MarketAcc, up: _MarketAcc | None, down: _MarketAcc | None) -> None:
    """acc.ticks: the UP view after the rows of either token at each time, in time order.
    Rows of both tokens at one time are applied together, giving one tick."""
    report = col.report
    streams = [((tick, True) for tick in up.ticks)] if up is not None else []
    if down is not None:
        streams.append((tick, False) for tick in down.ticks)
    key = attrgetter("ts_ms")
    last: dict[bool, BookTick] = {}
    out = acc.ticks
    rows = 0
    pending: tuple[BookTick, bool] | None = None  # the last row at the current time

    def emit(tick: BookTick, is_up: bool) -> None:
        own = _up_view(tick, is_up)
        if len(last) < 2:
            book = own
        else:
            book = _best(last[True], _up_view(last[False], False))
            if book[0] >= book[2]:
                report.books_disagree += 1
                book = own
        bid, bid_size, ask, ask_size = book
        out.append(BookTick(tick.ts_ms, acc.market_id, bid, bid_size, ask, ask_size, None, tick.underlying))

    for tick, is_up in heapq.merge(*streams, key=lambda pair: key(pair[0])):
        rows += 1
        if pending is not None and pending[0].ts_ms != tick.ts_ms:
            emit(*pending)
        last[is_up] = tick
        pending = (tick, is_up)
    if pending is not None:
        emit(*pending)
    acc.extra_rows += rows - len(out)  # rows merged into one tick are used all the same


def _up_view(tick: BookTick, is_up: bool) -> tuple[int, int, int, int]:
    if is_up:
        return tick.bid, tick.bid_size, tick.ask, tick.ask_size
    return ONE - tick.ask, tick.ask_size, ONE - tick.bid, tick.bid_size


def _best(up: BookTick, down: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    d_bid, d_bid_size, d_ask, d_ask_size = down
    if up.bid > d_bid:
        bid, bid_size = up.bid, up.bid_size
    elif up.bid < d_bid:
        bid, bid_size = d_bid, d_bid_size
    else:
        bid, bid_size = up.bid, up.bid_size + d_bid_size
    if up.ask < d_ask:
        ask, ask_size = up.ask, up.ask_size
    elif up.ask > d_ask:
        ask, ask_size = d_ask, d_ask_size
    else:
        ask, ask_size = up.ask, up.ask_size + d_ask_size
    return bid, bid_size, ask, ask_size


def _winner(
    col: _Collector,
    market_id: str,
    pair: dict[Outcome, str],
    tokens: dict[str, TokenSeen],
    column: str,
) -> Outcome | None:
    """The market's winner from the tokens' outcome column; DataError when its forms do not
    say one thing (see the module doc)."""
    side_of = {token: side for side, token in pair.items()}
    said: dict[Outcome, Outcome] = {}  # token side -> winner it implies
    words: dict[Outcome, str] = {}
    for side, token in pair.items():
        seen = tokens.get(token)
        text = seen.verdict if seen is not None else ""
        if not text:
            continue
        upper = text.upper()
        if upper in UP_WORDS or upper in DOWN_WORDS:
            said[side] = Outcome.UP if upper in UP_WORDS else Outcome.DOWN
            words[side] = "word"
        elif upper in WON_WORDS or upper in LOST_WORDS:
            said[side] = side if upper in WON_WORDS else side.other
            words[side] = "flag"
        elif text in side_of:
            said[side] = side_of[text]
            words[side] = "token"
        else:
            raise DataError(
                col.located(
                    seen.line if seen else 0,
                    f"column {column}: {text!r} on token {token} of market {market_id} is none of the"
                    f" forms; expected {OUTCOME_FORMS}",
                    column,
                )
            )
    if len(said) == 2 and said[Outcome.UP] is not said[Outcome.DOWN]:
        if words[Outcome.UP] == words[Outcome.DOWN] == "word":
            raise DataError(
                f"{col.path}: column {column}: {tokens[pair[Outcome.UP]].verdict!r} on the UP token and"
                f" {tokens[pair[Outcome.DOWN]].verdict!r} on the DOWN token of market {market_id} reads"
                f" as each token's side, not the winner; expected {OUTCOME_FORMS}, or map a side"
                " column with columns={'token_outcome': ...}"
            )
        col.report.notes.append(f"{market_id}: contradicting outcomes, left unresolved")
        return None
    return next(iter(said.values()), None)
