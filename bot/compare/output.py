"""What a trader reads: `render` (the side-by-side table for a terminal, its notes and a
summary line) and `write` (compare.json and compare.csv). Money and prices are exact.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

import orjson

from bot.compare.model import FIELDS, Comparison, Match, Row, Side
from bot.model import ONE, iso, to_decimal


def render(c: Comparison) -> str:
    """The side-by-side table: one line per position, then the notes and a summary line."""
    stopped = "no stop recorded" if c.stopped_ms is None else iso(c.stopped_ms)
    lines = [
        f"session {c.session_id} ({c.mode}, {iso(c.started_ms)} to {stopped}) vs its replay in {c.replay}",
        f"tape {c.tape}: {c.events:,} events; the replay started with {_money(c.starting_balance)} USDC",
        "",
    ]
    if c.rows:
        lines += _table(c.rows)
    else:
        lines.append("no positions on either side")
    if c.notes:
        lines += ["", "notes:"]
        lines += [f"  - {note}" for note in c.notes]
    lines += ["", summary_line(c)]
    return "\n".join(lines)


def summary_line(c: Comparison) -> str:
    counts = c.counts
    parts = ", ".join(f"{counts[m.value]} {m.value}" for m in Match)
    diff = c.replay_pnl - c.session_pnl
    verdict = "the replay matches the session" if c.identical else "the replay differs from the session"
    return (
        f"{len(c.rows)} positions: {parts}; net P&L session {_signed(c.session_pnl)}"
        f" vs replay {_signed(c.replay_pnl)} (replay − session {_signed(diff)}): {verdict}"
    )


def _table(rows: list[Row]) -> list[str]:
    left = [[r.market_id, r.outcome, r.strategy] for r in rows]
    places = _places(x.net_pnl for r in rows for x in (r.session, r.replay) if x is not None)
    mine = [_cells(r.session, places) for r in rows]
    theirs = [_cells(r.replay, places) for r in rows]
    results = [_result(r) for r in rows]
    left_w = [max(len(x[i]) for x in [*left, ["MARKET", "SIDE", "STRATEGY"]]) for i in range(3)]
    cell_w = [max(len(x[i]) for x in mine + theirs) for i in range(5)]
    side_w = len(_join(["", "", "", "", ""], cell_w))
    head = "  ".join(h.ljust(w) for h, w in zip(["MARKET", "SIDE", "STRATEGY"], left_w, strict=True))
    sub = "shares @ entry → exit reason P&L"
    side_w = max(side_w, len(sub), len("SESSION"))
    out = [
        f"{head} | {'SESSION'.ljust(side_w)} | {'REPLAY'.ljust(side_w)} | RESULT",
        f"{' ' * len(head)} | {sub.ljust(side_w)} | {sub.ljust(side_w)} |",
    ]
    for lft, a, b, res in zip(left, mine, theirs, results, strict=True):
        name = "  ".join(x.ljust(w) for x, w in zip(lft, left_w, strict=True))
        a_text = _join(a, cell_w).ljust(side_w) if any(a) else "-".center(side_w)
        b_text = _join(b, cell_w).ljust(side_w) if any(b) else "-".center(side_w)
        out.append(f"{name} | {a_text} | {b_text} | {res}".rstrip())
    return out


def _cells(s: Side | None, places: int) -> list[str]:
    if s is None:
        return ["", "", "", "", ""]
    if s.exit_reason:
        exit_price, reason = _price(s.exit_price), s.exit_reason
    else:
        exit_price, reason = "open", ""
    pnl = _signed(s.net_pnl, places) if s.exit_reason or s.net_pnl else "-"
    return [_qty(s.shares), _price(s.entry_price), exit_price, reason, pnl]


def _join(cells: list[str], widths: list[int]) -> str:
    shares, entry, exit_price, reason, pnl = cells
    w = widths
    return (
        f"{shares.rjust(w[0])} @ {entry.ljust(w[1])} → {exit_price.ljust(w[2])}"
        f" {reason.ljust(w[3])} {pnl.rjust(w[4])}"
    )


def _result(r: Row) -> str:
    text = r.status.value
    if r.differences:
        shown = []
        for name in r.differences:
            label = FIELDS[name]
            if name == "entry_time" and r.session and r.replay:
                label += f" {_clock(r.session.entry_ms)}/{_clock(r.replay.entry_ms)}"
            elif name == "fees" and r.session and r.replay:
                label += f" {_money(r.session.fees)}/{_money(r.replay.fees)}"
            shown.append(label)
        text += ": " + ", ".join(shown)
    if r.note:
        text += f"; {r.note}"
    return text


def _clock(ts_ms: int) -> str:
    return iso(ts_ms)[11:23]


def _price(micros: int) -> str:
    """An exact decimal: 0.52, 0.4437, 1, 0."""
    text = f"{to_decimal(micros):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _qty(micros: int) -> str:
    return _price(micros)


def _places(values: Iterable[int]) -> int:
    """The fewest decimals, at least 2, that show every one of `values` exactly."""
    return max([2, *(len(f"{abs(v) % ONE:06d}".rstrip("0")) for v in values)])


def _money(micros: int, places: int | None = None) -> str:
    """Exact, with `places` decimals (default: two, or every decimal there is): 12.50, -0.7952."""
    return f"{to_decimal(micros):.{_places([micros]) if places is None else places}f}"


def _signed(micros: int, places: int | None = None) -> str:
    text = _money(micros, places)
    return text if micros < 0 else f"+{text}"


CSV_COLUMNS = [
    "market_id",
    "side",
    "strategy",
    "status",
    "differences",
    "note",
    *(
        f"{who}_{name}"
        for who in ("session", "replay")
        for name in (
            "position_id",
            "entry_time",
            "entry_price",
            "shares",
            "exit_time",
            "exit_price",
            "exit_reason",
            "net_pnl",
            "fees",
        )
    ),
]


def _csv_side(s: Side | None) -> list[str]:
    if s is None:
        return [""] * 9
    return [
        str(s.position_id),
        iso(s.entry_ms),
        _price(s.entry_price),
        _qty(s.shares),
        "" if s.exit_ms is None else iso(s.exit_ms),
        _price(s.exit_price) if s.exit_reason else "",
        s.exit_reason,
        _price(s.net_pnl),
        _price(s.fees),
    ]


def write(c: Comparison, out: Path | None = None) -> dict[str, Path]:
    """`compare.json` and `compare.csv` in `out` (default: the replay folder)."""
    folder = out or c.replay
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in c.rows:
        writer.writerow(
            [
                r.market_id,
                r.outcome,
                r.strategy,
                r.status.value,
                ";".join(r.differences),
                r.note,
                *_csv_side(r.session),
                *_csv_side(r.replay),
            ]
        )
    paths = {"json": folder / "compare.json", "csv": folder / "compare.csv"}
    paths["json"].write_bytes(
        orjson.dumps(c.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    )
    paths["csv"].write_text(buf.getvalue())
    return paths
