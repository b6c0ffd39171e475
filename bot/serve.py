"""`bot serve`: a read-only web page of a bot, from its state files (standard library only).

    GET /             the page: liveness, account, controls, positions, orders, activity;
                      it reloads itself every 2 s
    GET /api/status   the same data as JSON (liveness and the three state files)

Nothing can be changed through it: there is no route that writes, only GET is answered,
and it never imports the engine. It listens on 127.0.0.1 by default. On any other address
a token is required (`--token`, or `$TOUCHTRADER_SERVE_TOKEN` so that it stays out of `ps`),
and every request must carry it (`?token=...` or `Authorization: Bearer ...`); with a token
set, loopback requests need it too. The token is never logged.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from bot import reader
from bot.errors import BotError
from bot.figures import num_of, pct, usd_of

ENV_TOKEN = "TOUCHTRADER_SERVE_TOKEN"
REFRESH_S = 2


class ServeError(BotError):
    """Cannot serve as asked; the message is one line."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def data(home: Path) -> dict[str, Any]:
    snap = reader.read(home)
    out: dict[str, Any] = {"liveness": snap.liveness, "liveness_reason": snap.liveness_reason}
    out.update({name.removesuffix(".json"): value for name, value in snap.files.items()})
    out["problems"] = snap.problems
    return out


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(home: Path, token: str) -> str:
    d = data(home)
    status = d.get("status") or {}
    trading = d.get("trading_state") or {}
    today = (d.get("trades_today") or {}).get("summary") or {}
    acct, risk, stats = status.get("account") or {}, status.get("risk") or {}, trading.get("stats") or {}
    controls = trading.get("controls") or {}
    e = html.escape
    why = risk.get("reason") or status.get("reason") or "stopped"
    can = "yes" if risk.get("can_trade") else f"no ({why})"
    positions = [
        [
            str(p.get("market_name", "")),
            str(p.get("side", "")),
            num_of(p.get("shares")),
            num_of(p.get("entry_price")),
            num_of(p.get("current_price")),
            num_of(p.get("stop_price")),
            num_of(p.get("target_price")),
            usd_of(p.get("pnl"), sign=True),
            str(p.get("lifecycle") or p.get("status", "")),
        ]
        for p in trading.get("active_positions") or []
    ]
    orders = [
        [
            str(o.get("market", "")),
            str(o.get("action", "")),
            str(o.get("side", "")),
            num_of(o.get("price")),
            num_of(o.get("shares")),
            num_of(o.get("filled_shares")),
            str(o.get("status", "")),
        ]
        for o in trading.get("open_orders") or []
    ]
    activity = [
        [str(a.get("timestamp", "")), str(a.get("type", "")), str(a.get("details", ""))]
        for a in (trading.get("recent_activity") or [])[:20]
    ]
    last = controls.get("last")
    last_text = f"{last['control']} {last['result']} at {last['time']}: {last['reason']}" if last else "none"
    refresh = f"{REFRESH_S};url=/?token={quote(token)}" if token else str(REFRESH_S)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{e(refresh)}">
<title>touchtrader {e(d["liveness"])}</title>
<style>body{{font:14px monospace;margin:1em}} td,th{{padding:0 .8em;text-align:left}}
.ALIVE{{color:#080}} .STALE{{color:#a60}} .DEAD,.UNKNOWN{{color:#c00}}</style></head>
<body>
<h1>touchtrader <span id="liveness" class="{e(d["liveness"])}">{e(d["liveness"])}</span></h1>
<p id="reason">{e(d["liveness_reason"])}</p>
<p id="state">mode {e(str(status.get("mode", "?")))}, state {e(str(status.get("trading_state", "?")))};
can trade: {e(can)}</p>
<p id="account">balance {e(usd_of(acct.get("balance")))};
available {e(usd_of(stats.get("available_balance")))};
P&amp;L today {e(usd_of(acct.get("daily_pnl"), sign=True))}; {today.get("total_trades", 0)} trades today,
won {e(pct(today.get("wins") or 0, today.get("closed_trades") or 0))}</p>
<p id="controls">controls in effect: {e(", ".join(controls.get("in_effect") or []) or "none")};
last: {e(last_text)}</p>
<h2>positions ({len(positions)})</h2>
{_table(["market", "side", "shares", "entry", "bid", "stop", "target", "P&L", "state"], positions)}
<h2>open orders ({len(orders)})</h2>
{_table(["market", "action", "side", "price", "shares", "filled", "status"], orders)}
<h2>recent activity</h2>
{_table(["time", "type", "details"], activity)}
<p>updated {e(str(status.get("timestamp", "-")))}; read-only; reloads every {REFRESH_S} s</p>
</body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if not self._authorised(parse_qs(parts.query).get("token", [""])[0]):
            self._send(
                401,
                "text/plain; charset=utf-8",
                b"a token is required: ?token=... or Authorization: Bearer\n",
            )
            return
        if parts.path == "/":
            body = page(self.server.home, self.server.token).encode()
            self._send(200, "text/html; charset=utf-8", body)
        elif parts.path == "/api/status":
            self._send(200, "application/json", json.dumps(data(self.server.home), indent=2).encode())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: / and /api/status only\n")

    def _authorised(self, query_token: str) -> bool:
        expected = self.server.token
        if not expected:
            return True
        header = self.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else query_token
        return hmac.compare_digest(given.encode(), expected.encode())

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # the path without its query: no token
        sys.stderr.write(f"{self.address_string()} {self.command} {urlsplit(self.path).path}\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, home: Path, host: str, port: int, token: str) -> None:
        if not is_loopback(host) and not token:
            raise ServeError(
                f"a token is required to listen on {host} (not a loopback address):"
                f" --token, or set {ENV_TOKEN}"
            )
        self.home, self.token = home, token
        try:
            super().__init__((host, port), Handler)
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"
