"""The local CLOB V2 stand-in's wire: its constants and refusal texts, the objects it keeps
(markets, orders, trades), how a POST /order payload is read, and the rows it answers with.

No state and no HTTP here: bot/testing/clob_exchange.py keeps the venue state,
bot/testing/clob_server.py serves it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.errors import BotError
from bot.testing.clob_hash import order_hash

MICRO = 1_000_000
EPS = 1e-9
INITIAL_CURSOR, END_CURSOR = "MA==", "LTE="
ZERO_ADDRESS = "0x" + "0" * 40
MAX_UINT256 = str(2**256 - 1)
ALLOWANCE_SPENDERS = (  # Polygon: CTF Exchange V2, neg-risk Exchange V2, neg-risk adapter
    "0xE111180000d2663C0091e4f400237545B87B996B",
    "0xe2222d279d744050d28e00520010520000310F59",
    "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",
)
DEFAULT_API_KEY = "7e57c10b-0000-4000-8000-000000000001"
DEFAULT_API_SECRET = base64.urlsafe_b64encode(b"touchtrader-local-clob-secret-00").decode()
DEFAULT_API_PASSPHRASE = "touchtrader-local-passphrase"
UNAUTHORIZED = "Unauthorized/Invalid api key"
NO_BOOK = "No orderbook exists for the requested token id"
NOT_ENOUGH_BALANCE = "not enough balance / allowance"
NOT_LIVE = "order can't be found - already canceled or matched"
FOK_NOT_FILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_NO_MATCH = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
MAX_BATCH = 15
# FOK/FAK amounts the venue accepts, whatever the tick: maker 2 decimals, taker 4 (micros)
MARKET_MAKER_UNIT, MARKET_TAKER_UNIT = 10_000, 100
REQUIRED_ORDER_FIELDS = (
    "salt",
    "maker",
    "signer",
    "tokenId",
    "makerAmount",
    "takerAmount",
    "side",
    "signatureType",
    "timestamp",
    "signature",
)
ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")
# A refused order inside a POST /orders batch (a single POST /order answers 400 instead).
REFUSED = {"success": False, "orderID": "", "status": "", "makingAmount": "", "takingAmount": ""}


class ClobError(BotError):
    """A refusal the API reports as ``{"error": message}`` with an HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def to_micro(x: float) -> int:
    return round(x * MICRO)


def fmt(x: float) -> str:
    """Decimal string as the API writes numbers: ``0.5``, ``10``, ``0.0025``."""
    return f"{x:.6f}".rstrip("0").rstrip(".") or "0"


def fmt_micro(n: int) -> str:
    return fmt(n / MICRO)


def hex_id(*parts: object) -> str:
    return "0x" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def opposite(side: str) -> str:
    return "SELL" if side == "BUY" else "BUY"


def paginate(rows: list[Any], cursor: str | None, page_size: int) -> dict[str, Any]:
    """``{data, next_cursor, limit, count}``; cursors are base64 offsets, ``LTE=`` (-1) ends."""
    try:
        offset = int(base64.b64decode(cursor or INITIAL_CURSOR))
    except ValueError:
        raise ClobError("invalid next_cursor") from None
    page = rows[offset : offset + page_size] if offset >= 0 else []
    end = offset + page_size
    nxt = base64.b64encode(str(end).encode()).decode() if offset >= 0 and end < len(rows) else None
    return {"data": page, "next_cursor": nxt or END_CURSOR, "limit": page_size, "count": len(page)}


def sign_l2(secret: str, timestamp: str, method: str, path: str, body: str = "") -> str:
    """The L2 ``POLY_SIGNATURE`` exactly as py-clob-client-v2 computes it (query excluded)."""
    message = timestamp + method + path + body.replace("'", '"')
    digest = hmac.new(base64.urlsafe_b64decode(secret), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode()


@dataclass
class Market:
    condition_id: str
    tokens: tuple[str, str]
    tick: float = 0.01
    min_size: float = 5.0
    neg_risk: bool = False
    fee_rate: float = 0.0
    fee_exponent: float = 1.0
    accepting_orders: bool = True
    closed: bool = False
    question: str = ""
    outcomes: tuple[str, str] = ("Up", "Down")
    winner: str | None = None
    end_date_iso: str | None = None
    slug: str = ""  # the market's slug (market_slug); the condition id when empty

    def outcome(self, token: str) -> str:
        return self.outcomes[self.tokens.index(token)]

    def fee(self, shares: int, price: float) -> int:
        """Taker fee in micro collateral: shares × rate × (p × (1 − p))^exponent."""
        return round(shares * self.fee_rate * (price * (1 - price)) ** self.fee_exponent)

    @property
    def fee_bps(self) -> int:
        return round(self.fee_rate * 10_000)


@dataclass
class Order:
    id: str
    owner: str
    maker_address: str
    market: str
    token: str
    side: str
    price: float
    size: int  # shares (micro); a market BUY's budget at its limit price
    order_type: str
    expiration: int
    created_at: float
    seq: int
    budget: int | None = None  # market (FOK/FAK) BUY: collateral to spend, micro
    matched: int = 0
    status: str = "LIVE"
    trade_ids: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return max(self.size - self.matched, 0)


@dataclass
class Trade:
    """A trade as the owner of ``order`` (their side of it) sees it."""

    id: str
    order: Order
    role: str  # "trader_side": TAKER or MAKER
    taker_order_id: str
    side: str  # the taker's side, as the real API reports it
    price: float
    size: int
    match_time: float
    maker_orders: list[dict[str, Any]]
    duplicate: bool = False
    failed: bool = False  # the settlement transaction failed on chain: never a fill

    @property
    def transaction_hash(self) -> str:
        return hex_id("tx", self.id)


Plan = list[tuple[float, int, Order | None]]  # (price, shares, maker order or None = liquidity)


def parse_order(
    payload: Any, owner: str, address: str | None, market_for: Callable[[str], Market], now: float
) -> tuple[Order, Market]:
    """A POST /order payload as an ``Order`` (``seq`` 0: the exchange numbers it), or ``ClobError``
    with the venue's own refusal text. Checks the payload alone; funds and duplicates are the
    exchange's to check."""
    raw, order_type = _signed_order(payload, owner, address)
    token, side = str(raw["tokenId"]), raw["side"]
    market = market_for(token)
    if market.closed or not market.accepting_orders:
        raise ClobError("the market is not yet ready to process new orders")
    if side not in ("BUY", "SELL"):
        raise ClobError(f"invalid order side: {side}")
    marketable = order_type in ("FOK", "FAK")
    maker_amount, taker_amount, expiration = _amounts(raw, side, marketable)
    shares, cash = (taker_amount, maker_amount) if side == "BUY" else (maker_amount, taker_amount)
    # A market order's amounts are rounded by the client: snap its implied price to the tick.
    price = snap(cash / shares, market.tick, tolerance=0.5 if marketable else 1e-6)
    if order_type == "GTD" and expiration < now + 60:
        raise ClobError(f"invalid expiration {expiration}: GTD needs at least now + 60 s ({int(now)})")
    if not marketable and shares < to_micro(market.min_size):
        raise ClobError(f"Size ({fmt_micro(shares)}) lower than the minimum: {fmt(market.min_size)}")
    try:  # the order's EIP-712 hash, like the venue: a re-sent signed order is a duplicate
        order_id = order_hash(raw, market.neg_risk)
    except Exception:  # a hand-made test payload (addresses like "0xm"): still stable
        order_id = hex_id(raw["signature"], raw["salt"])
    order = Order(
        order_id,
        owner,
        str(raw["maker"]),
        market.condition_id,
        token,
        side,
        price,
        shares,
        order_type,
        expiration,
        now,
        0,
    )
    order.budget = cash if marketable and side == "BUY" else None
    return order, market


def _signed_order(payload: Any, owner: str, address: str | None) -> tuple[dict[str, Any], str]:
    """The signed order inside a POST /order payload and its type, checked field by field."""
    raw = payload.get("order") if isinstance(payload, dict) else None
    if not isinstance(raw, dict):
        raise ClobError("Invalid order payload")
    if "timestamp" not in raw:  # a V1 (pre-2026-04-28) signed order
        raise ClobError("order_version_mismatch")
    missing = [k for k in REQUIRED_ORDER_FIELDS if raw.get(k) in (None, "")]
    if missing:
        raise ClobError(f"Invalid order payload: missing {', '.join(missing)}")
    if payload.get("owner") != owner:
        raise ClobError("the order owner has to be the same as the API KEY")
    if address and str(raw["signer"]).lower() != address.lower():
        raise ClobError("the order signer address has to be the address of the API KEY")
    order_type = payload.get("orderType", "GTC")
    if order_type not in ORDER_TYPES:
        raise ClobError(f"invalid order type: {order_type}")
    if payload.get("postOnly") and order_type not in ("GTC", "GTD"):
        raise ClobError("invalid post-only order: only GTC and GTD orders can be post-only")
    return raw, str(order_type)


def _amounts(raw: dict[str, Any], side: str, marketable: bool) -> tuple[int, int, int]:
    """(maker amount, taker amount, expiration) as integers, with the venue's accuracy rules."""
    try:
        maker_amount, taker_amount = int(raw["makerAmount"]), int(raw["takerAmount"])
        expiration = int(raw.get("expiration") or 0)
    except (TypeError, ValueError):
        raise ClobError("Invalid order payload: amounts must be integers") from None
    if maker_amount <= 0 or taker_amount <= 0:
        raise ClobError("Invalid order payload: amounts must be positive")
    if marketable and (maker_amount % MARKET_MAKER_UNIT or taker_amount % MARKET_TAKER_UNIT):
        kind = "market buy" if side == "BUY" else "sell"
        raise ClobError(
            f"invalid amounts, the {kind} orders maker amount supports a max accuracy of 2 decimals,"
            " taker amount a max of 4 decimals"
        )
    return maker_amount, taker_amount, expiration


def snap(price: float, tick: float, tolerance: float) -> float:
    ticks = price / tick
    if abs(ticks - round(ticks)) > tolerance:
        raise ClobError(f"order is invalid. Price ({fmt(price)}) breaks minimum tick size rule: {fmt(tick)}")
    snapped = round(round(ticks) * tick, 6)
    if not tick - EPS <= snapped <= 1 - tick + EPS:
        raise ClobError(f"invalid price ({fmt(snapped)}), min: {fmt(tick)} - max: {fmt(1 - tick)}")
    return snapped


def trade_row(t: Trade, market: Market, status: str) -> dict[str, Any]:
    return {
        "id": t.id,
        "taker_order_id": t.taker_order_id,
        "market": market.condition_id,
        "asset_id": t.order.token,
        "side": t.side,
        "size": fmt_micro(t.size),
        "fee_rate_bps": str(market.fee_bps),
        "price": fmt(t.price),
        "status": status,
        "match_time": str(int(t.match_time)),
        "last_update": str(int(t.match_time)),
        "outcome": market.outcome(t.order.token),
        "bucket_index": 0,
        "owner": t.order.owner,
        "maker_address": t.order.maker_address,
        "transaction_hash": t.transaction_hash,
        "trader_side": t.role,
        "maker_orders": t.maker_orders,
    }


def order_row(o: Order, market: Market) -> dict[str, Any]:
    return {
        "id": o.id,
        "status": o.status,
        "owner": o.owner,
        "maker_address": o.maker_address,
        "market": o.market,
        "asset_id": o.token,
        "side": o.side,
        "original_size": fmt_micro(o.size),
        "size_matched": fmt_micro(o.matched),
        "price": fmt(o.price),
        "outcome": market.outcome(o.token),
        "expiration": str(o.expiration),
        "order_type": o.order_type,
        "associate_trades": list(o.trade_ids),
        "created_at": int(o.created_at),
    }


def market_row(m: Market, simplified: bool, midpoint: Callable[[str], float]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "condition_id": m.condition_id,
        "tokens": [
            {"token_id": t, "outcome": o, "price": midpoint(t), "winner": m.winner == t}
            for t, o in zip(m.tokens, m.outcomes, strict=True)
        ],
        "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
        "active": not m.closed,
        "closed": m.closed,
        "archived": False,
        "accepting_orders": m.accepting_orders,
    }
    if not simplified:
        row.update(
            {
                "question": m.question,
                "question_id": hex_id("question", m.condition_id),
                "market_slug": m.slug or m.condition_id,
                "description": "",
                "minimum_order_size": m.min_size,
                "minimum_tick_size": m.tick,
                "neg_risk": m.neg_risk,
                "maker_base_fee": 0,
                "taker_base_fee": m.fee_bps,
                "seconds_delay": 0,
                "end_date_iso": m.end_date_iso,
                "tags": [],
            }
        )
    return row
