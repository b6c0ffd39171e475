"""The fast path for clean tables of rows per token (Parquet, or a CSV read by pyarrow):
checks and pairing with numpy.

A table qualifies when every check a row could fail passes for all rows at once (times,
prices, sizes, keys; each token's rows in time order with one market, side, window end and
outcome) and there is no window_start or strike column. Then the checks across rows and
the pairing of the two tokens of a market (``formats.tokens``: the best of both books,
rows at one time applied together, crossed complements counted) run on whole arrays, and
Python builds only the events. Any other table returns None and goes through the row path,
which finds and explains every problem; both give the same events (tests compare them).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any, Final

from bot.feeds.formats.core import _Collector, _MarketAcc
from bot.feeds.formats.csvfile import Settings, _CsvRows
from bot.feeds.formats.tokens import TokenSeen, pair_tokens
from bot.feeds.formats.values import _outcome, tick_of
from bot.model import ONE, BookTick, Outcome

CHUNK = 65_536  # events turned into Python objects at a time


def fast_tokens(rows: _CsvRows, batch: Any, setup: Settings) -> dict[str, _MarketAcc] | None:
    """The markets of a whole table (one `parquet._Batch`), or None when it does not qualify."""
    np, pa = batch.np, batch.pa
    if rows.tokens is None or batch.column("window_start") is not None or batch.column("strike") is not None:
        return None
    books = batch.books()
    for role in ("timestamp", "best_bid", "best_ask"):
        if batch.column(role).type == pa.string() or batch.column(role).type == pa.large_string():
            return None  # text: naive times and exact decimals are the row path's business
    if batch.bad.any():
        return None
    codes, token_names = _codes(batch.column("token_id"), np, pa)
    if codes is None or any(not t for t in token_names):
        return None
    per_role: dict[str, tuple[Any, list[Any]] | None] = {}
    for role in _ROLES:
        arr = batch.column(role)
        if arr is None:
            per_role[role] = None
            continue
        values, names = _codes(arr, np, pa)
        if values is None:
            return None
        per_role[role] = (values, names)
    end_arr = batch.column("window_end")
    ends = None
    if end_arr is not None:
        ends = batch.times(end_arr, True)
        if batch.bad.any():
            return None
    under = batch.floats("underlying")
    if batch.bad.any():
        return None
    first = np.full(len(token_names), len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    table = (codes, token_names, first, codes, per_role, ends, under, 1)
    return _whole(rows, setup, np, table, books, parse_sides=True)


def whole_tokens(rows: _CsvRows, blocks: list[Any], setup: Settings) -> dict[str, _MarketAcc] | None:
    """The markets of a CSV's rows per token, all clean, read as the blocks (each a
    ``csvarrow.Bulk``, in file order, one row per line from line `first_line` of the first),
    or None when they do not qualify (as `fast_tokens`)."""
    import numpy as np

    tokens: dict[str, int] = {}
    combos: dict[Any, int] = {}
    codes, pair_tokens_, pair_combos, pair_firsts = [], [], [], []
    offset = 0
    for b in blocks:  # per block: its rows' tokens, and each (token, combination) once
        token_of = np.array([tokens.setdefault(k, len(tokens)) for k in b.keys], dtype=np.int64)
        combo_of = np.array([combos.setdefault(x, len(combos)) for x in b.extras], dtype=np.int64)
        codes.append(token_of[b.key_codes])
        n = len(b.key_codes)
        pairs = b.key_codes * len(b.extras) + b.extra_codes
        at = np.full(len(b.keys) * len(b.extras), n, dtype=np.int64)
        np.minimum.at(at, pairs, np.arange(n))
        shown = np.flatnonzero(at < n)
        pair_tokens_.append(token_of[shown // len(b.extras)])
        pair_combos.append(combo_of[shown % len(b.extras)])
        pair_firsts.append(at[shown] + offset)
        offset += n
    row_tokens = np.concatenate(codes)
    role_codes, extra = np.concatenate(pair_tokens_), np.concatenate(pair_combos)
    token_names = list(tokens)
    first = np.full(len(token_names), offset, dtype=np.int64)
    np.minimum.at(first, role_codes, np.concatenate(pair_firsts))
    if not all(t.isprintable() for t in token_names):
        return None  # the row path names the row
    per_role: dict[str, tuple[Any, list[Any]] | None] = {}
    for role, part in zip(_ROLES, zip(*combos, strict=True) if combos else ((), (), ()), strict=True):
        if rows.index[role] is None:
            per_role[role] = None
            continue
        names: dict[Any, int] = {}
        coded = [
            -1 if value is None or value == "" else names.setdefault(value, len(names)) for value in part
        ]
        per_role[role] = (np.array(coded, dtype=np.int64)[extra], list(names))
    ends = None
    if blocks[0].end is not None:
        ends = np.concatenate([b.end for b in blocks])
    under: list[Any] = []
    for b in blocks:
        under += b.under or [None] * len(b.ts)
    books = tuple(np.concatenate([getattr(b, name) for b in blocks]) for name in _BOOKS)
    return _whole(
        rows,
        setup,
        np,
        (row_tokens, token_names, first, role_codes, per_role, ends, under, blocks[0].first_line),
        books,
        parse_sides=False,
    )


_ROLES = ("market_id", "token_outcome", "outcome")
_BOOKS = ("ts", "bid", "bid_size", "ask", "ask_size")


def _whole(
    rows: _CsvRows,
    setup: Settings,
    np: Any,
    table: tuple[Any, ...],
    books: tuple[Any, ...],
    parse_sides: bool,
) -> dict[str, _MarketAcc] | None:
    """The checks across rows and the pairing, on arrays: `table` is (token code of each
    row, the tokens, each token's first row, the token of each entry of the roles' arrays
    (each row's, or fewer entries standing for them), per role of _ROLES (None: no such
    column) each entry's code (-1: blank) and the values, window end of each row (None: no
    column), underlying of each row, line or row number of row 0); `books` (time, bid, bid
    size, ask, ask size)."""
    codes, token_names, first, role_codes, per_role, ends, under, first_line = table
    ts, bid, ask = books[0], books[1], books[3]
    col: _Collector = rows.col
    per_token: dict[str, list[Any]] = {}
    for role in _ROLES:
        got = per_role[role]
        if got is None:
            per_token[role] = [None] * len(token_names)
            continue
        values, names = got
        values = np.where(values < 0, -1, values)
        blank = np.array([not v for v in names] + [True])[values]  # -1 (null) is blank too
        values = np.where(blank, -1, values)
        high = np.full(len(token_names), -1, dtype=np.int64)
        np.maximum.at(high, role_codes, values)
        low = np.full(len(token_names), 1 << 40, dtype=np.int64)
        np.minimum.at(low, role_codes, np.where(values < 0, 1 << 40, values))
        has = high >= 0
        if (has & (low != high)).any():
            return None  # a token's rows disagree: the row path says where
        if role != "outcome" and (values < 0).any():
            return None
        per_token[role] = [names[h] if h >= 0 else None for h in high.tolist()]
    if ends is not None and (ends != ends[first[codes]]).any():
        return None
    if bool((ts[1:] < ts[:-1]).any()):  # not all in time order: is each token's?
        order = np.argsort(codes, kind="stable")
        if ((np.diff(ts[order]) < 0) & (np.diff(codes[order]) == 0)).any():
            return None  # time goes backwards for a token
    # the finest tick of a token's rows before its window end (the rows the row path keeps)
    end = ends if ends is not None else setup.const_end
    kept = None if end is None else ts < end
    if kept is not None and kept.all():
        kept = None  # every row is kept: no copies
    tick_seen = np.full(len(token_names), 10_000, dtype=np.int64)
    if kept is None:
        np.minimum.at(tick_seen, codes, np.minimum(tick_of_prices(bid, np), tick_of_prices(ask, np)))
    else:
        fine = np.minimum(tick_of_prices(bid[kept], np), tick_of_prices(ask[kept], np))
        np.minimum.at(tick_seen, codes[kept], fine)

    tokens: dict[str, TokenSeen] = {}
    by_token: dict[str, _MarketAcc] = {}
    side_col = rows.names["token_outcome"]
    meta = setup.meta
    market_codes: dict[str, int] = {}
    market_of = np.zeros(len(token_names), dtype=np.int64)
    down_of = np.zeros(len(token_names), dtype=np.int8)
    for k, token in enumerate(token_names):
        side = per_token["token_outcome"][k]
        if parse_sides:
            try:
                side = _outcome(side, side_col)
            except ValueError:
                return None
        seen = tokens[token] = TokenSeen(
            per_token["market_id"][k], side, per_token["outcome"][k] or "", int(first[k]) + first_line
        )
        info = meta.tokens.get(token) if meta is not None else None
        if (info is None and (seen.market is None or seen.side is None)) or (
            info is not None and seen.side is not None and seen.side is not info.side
        ):
            return None  # rows the metadata does not know, or a side it contradicts
        market = info.market_id if info is not None else seen.market
        market_of[k] = market_codes.setdefault(str(market), len(market_codes))
        down_of[k] = (info.side if info is not None else seen.side) is Outcome.DOWN
        acc = by_token[token] = _MarketAcc(token, window_end=setup.const_end, outcome=setup.const_outcome)
        if ends is not None:
            acc.window_end = int(ends[first[k]])
        acc.tick_seen = int(tick_seen[k])
    rows.tokens = tokens
    combined = _Combined(np, market_codes, market_of[codes], down_of[codes], books, under)
    return pair_tokens(
        col, by_token, tokens, meta, rows.names["outcome"], setup.const_outcome, combined.market
    )


def _codes(arr: Any, np: Any, pa: Any) -> tuple[Any, list[str]]:
    """Dictionary codes (-1 for null) and the distinct values as stripped text."""
    if pa.types.is_dictionary(arr.type) and pa.types.is_string(arr.type.value_type):
        encoded = arr
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_integer(arr.type):
        encoded = arr.cast(pa.string()).dictionary_encode()
    else:
        return None, []
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if hasattr(encoded, "combine_chunks") else encoded.chunk(0)
    names = [str(v).strip() for v in encoded.dictionary.to_pylist()]
    if len(set(names)) != len(names):
        return None, []  # " a" and "a": the row path strips and compares
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    present = np.bincount(codes[codes >= 0], minlength=len(names)) > 0
    if not present.all():  # a dictionary read from the file may hold values no row uses
        renumber = np.append(np.cumsum(present) - 1, -1)  # and -1 stays -1
        codes = renumber[codes]
        names = [name for name, used in zip(names, present.tolist(), strict=True) if used]
    return codes, names


def tick_of_prices(prices: Any, np: Any) -> Any:
    """values.tick_of for an array of prices in [0, ONE] on 0.0001 or coarser."""
    if not _TICKS:
        _TICKS.append(np.array([tick_of(p * 100) for p in range(ONE // 100 + 1)], dtype=np.int64))
    return _TICKS[0][prices // 100]


_TICKS: Final[list[Any]] = []  # tick_of(100 * i) at i (made on first use: numpy is optional)


class _Combined:
    """tokens._combine for every market at once: rows sorted by market, time, UP first and
    file order; the last UP and DOWN book of the market at each row carried forward; one
    tick per market and time (its last row), the best of both books unless they cross."""

    def __init__(
        self,
        np: Any,
        market_codes: dict[str, int],
        market: Any,
        down: Any,
        books: tuple[Any, ...],
        under: list[float | None],
    ) -> None:
        ts, bid, bid_size, ask, ask_size = books
        n = len(ts)
        self.np = np
        self.codes = market_codes
        positions = np.arange(n)
        order = np.lexsort((positions, down, ts, market))
        m, t, side = market[order], ts[order], down[order]
        self.rows_at = np.searchsorted(m, np.arange(len(market_codes) + 1))
        last_up = np.maximum.accumulate(np.where(side, -1, positions))
        last_down = np.maximum.accumulate(np.where(side, positions, -1))
        emit = np.append((t[1:] != t[:-1]) | (m[1:] != m[:-1]), True)
        m_e = m[emit]
        start = self.rows_at[m_e]  # each emitted row's market's first position
        rows_e = order[emit]
        is_up = side[emit] == 0
        e_bid, e_bs, e_ask, e_as = bid[rows_e], bid_size[rows_e], ask[rows_e], ask_size[rows_e]
        own_bid = np.where(is_up, e_bid, ONE - e_ask)
        own_bs = np.where(is_up, e_bs, e_as)
        own_ask = np.where(is_up, e_ask, ONE - e_bid)
        own_as = np.where(is_up, e_as, e_bs)
        lu, ld = last_up[emit], last_down[emit]
        lu, ld = np.where(lu >= start, lu, -1), np.where(ld >= start, ld, -1)  # in the market
        both = (lu >= 0) & (ld >= 0)
        u = order[np.maximum(lu, 0)]
        d = order[np.maximum(ld, 0)]
        d_bid, d_bs, d_ask, d_as = ONE - ask[d], ask_size[d], ONE - bid[d], bid_size[d]
        u_bid, u_bs, u_ask, u_as = bid[u], bid_size[u], ask[u], ask_size[u]
        c_bid = np.maximum(u_bid, d_bid)
        c_bs = np.where(u_bid > d_bid, u_bs, np.where(u_bid < d_bid, d_bs, u_bs + d_bs))
        c_ask = np.minimum(u_ask, d_ask)
        c_as = np.where(u_ask < d_ask, u_as, np.where(u_ask > d_ask, d_as, u_as + d_as))
        crossed = both & (c_bid >= c_ask)
        use = both & ~crossed
        self.crossed = np.concatenate(([0], np.cumsum(crossed)))
        names = np.array(list(market_codes), dtype=object)
        self.t_rows, self.t_emit = t, t[emit]
        self.emit_at = np.searchsorted(m_e, np.arange(len(market_codes) + 1))
        columns = (
            self.t_emit,
            names[m_e],
            np.where(use, c_bid, own_bid),
            np.where(use, c_bs, own_bs),
            np.where(use, c_ask, own_ask),
            np.where(use, c_as, own_as),
            rows_e,
        )
        self.ticks: list[BookTick] = []
        no_under = under.count(None) == len(under)
        for lo in range(0, len(rows_e), CHUNK):  # Python ints for a chunk at a time: less memory
            parts = [c[lo : lo + CHUNK].tolist() for c in columns]
            rows_at = parts.pop()
            unders = repeat(None) if no_under else [under[i] for i in rows_at]
            self.ticks += map(BookTick, *parts, repeat(None), unders)

    def market(
        self, col: _Collector, acc: _MarketAcc, up: _MarketAcc | None, down: _MarketAcc | None
    ) -> None:
        """The market's ticks before its window end (a `tokens.Combine`)."""
        np = self.np
        code = self.codes[acc.market_id]
        r0, r1 = int(self.rows_at[code]), int(self.rows_at[code + 1])
        e0, e1 = int(self.emit_at[code]), int(self.emit_at[code + 1])
        assert acc.window_end is not None
        kept = int(np.searchsorted(self.t_rows[r0:r1], acc.window_end))
        cut = e0 + int(np.searchsorted(self.t_emit[e0:e1], acc.window_end))
        if r1 - r0 > kept:
            ignored = col.report.ignored
            ignored["row at or after window end"] = (
                ignored.get("row at or after window end", 0) + r1 - r0 - kept
            )
        acc.ticks = self.ticks[e0:cut]
        col.report.books_disagree += int(self.crossed[cut] - self.crossed[e0])
        acc.extra_rows += kept - (cut - e0)
