"""Order preparation for Polymarket CLOB V2, shared by the live and the dry-run venues.

`OrderFactory.prepare` turns an `OrderRequest` into the exact ``POST /order`` body:
- the price rounded to the market's tick in the passive direction (BUY down, SELL up: never a
  worse limit), the size down to 2 decimals, amounts as exact integers (`order_amounts`; the
  vendor client's float rounding loses a cent of shares on sizes like 5.02);
- market orders (FOK/FAK) within the venue's market-order precision at every tick (maker
  amount 2 decimals, taker amount 4);
- GTD expiration = requested expiry + the venue's 60 s security threshold, in unix seconds;
- the salt from the wallet and the client id (`order_salt`) and the order timestamp from the
  request's `created_ms`: a re-send of the same intent is the same signed order, with the same
  EIP-712 hash (the venue's order id), which the venue refuses as a duplicate;
- signed with ``py-clob-client-v2``'s V2 order builder (imported on first use), or left unsigned
  without a key (dry run).

`l2_headers` signs an authenticated request (the L2 HMAC headers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from bot.config import ConfigError
from bot.errors import OrderRefused, VenueFatal
from bot.model import ONE, Action, Micros, OrderRequest, OrderType, notional
from bot.venues.polymarket import wire
from bot.venues.polymarket.credentials import PolymarketCredentials

POLYGON = 137
GTD_SECURITY_S = 60  # the venue expires a GTD order one minute before its stated expiration
BYTES32_ZERO = "0x" + "0" * 64
CENT = 10_000  # micros
MARKET_TAKER_UNIT = 100  # micros: a market order's taker amount has at most 4 decimals
# decimals allowed in an order amount, per tick (py-clob-client-v2's ROUNDING_CONFIG.amount)
AMOUNT_DECIMALS: dict[Micros, int] = {100_000: 3, 10_000: 4, 5_000: 5, 2_500: 6, 1_000: 5, 100: 6}


def order_salt(wallet: str, client_id: str) -> int:
    """The signed order's salt, from the intent rather than the clock: a re-send of the same
    intent (same client id, created time, amounts) is the same signed order, with the same
    hash, which the venue refuses as a duplicate instead of placing twice."""
    digest = hashlib.sha256(f"{wallet.lower()}|{client_id}".encode()).digest()
    return int.from_bytes(digest[:5], "big") or 1  # 40 bits, like the client's own salts


def round_price(price: Micros, tick: Micros, action: Action) -> Micros:
    """Onto the tick, never to a worse limit: BUY rounds down, SELL up."""
    if action is Action.BUY:
        return price - price % tick
    return -(-price // tick) * tick


def round_size(size: Micros) -> Micros:
    """Down to 2 decimals (the venue's share precision)."""
    return size - size % CENT


def order_amounts(
    action: Action, order_type: OrderType, price: Micros, size: Micros, tick: Micros
) -> tuple[int, int, Micros]:
    """(makerAmount, takerAmount, shares) in 6-decimal integers, exactly as the client means
    them. Limit orders: BUY gives price × size collateral for size shares, SELL the other
    way. Market orders (FOK/FAK) must fit the venue's market-order precision whatever the tick
    (maker amount 2 decimals, taker amount 4: `MARKET_TAKER_UNIT`): a BUY spends price × size
    rounded down to the cent and takes what that buys at `price`, rounded down; a SELL gives
    its shares for at least price × size rounded down. Rounding down moves the implied price
    by less than one tick, on the side that admits the same book levels as `price` (a BUY's
    limit rises a hair, a SELL's falls a hair), so no level worse than `price` can match."""
    cash = notional(price, size)
    if order_type in (OrderType.GTC, OrderType.GTD):
        return (cash, size, size) if action is Action.BUY else (size, cash, size)
    unit = max(10 ** (6 - AMOUNT_DECIMALS[tick]), MARKET_TAKER_UNIT)
    if action is Action.SELL:
        return size, cash - cash % unit, size
    spend = cash - cash % CENT
    shares = (spend * ONE // price) // unit * unit
    return spend, shares, shares


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    """An order ready to POST: rounded, with exact amounts, signed when a key is present."""

    request: OrderRequest
    token_id: str
    price: Micros  # on the tick
    size: Micros  # shares the venue will see (a market BUY's shares follow from its amount)
    maker_amount: int
    taker_amount: int
    expiration_s: int  # 0: none
    tick: Micros
    neg_risk: bool
    payload: dict[str, Any]  # the POST /order body
    order_hash: str | None  # EIP-712 hash of the signed order (the venue's order id)

    @property
    def signed(self) -> bool:
        return bool(self.payload["order"].get("signature"))


class OrderFactory:
    """Rounds, computes amounts, signs with py-clob-client-v2's V2 order builder and builds the
    ``POST /order`` body. Without a private key the body is left unsigned (dry run)."""

    def __init__(
        self,
        chain_id: int = POLYGON,
        private_key: str | None = None,
        signature_type: int = 0,
        funder: str | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.signature_type = signature_type
        self._signer: Any = None
        self._builders: dict[bool, Any] = {}
        self.address: str | None = None
        if private_key:
            from py_clob_client_v2.signer import Signer

            try:
                self._signer = Signer(private_key, chain_id)
            except Exception:
                raise ConfigError("POLYMARKET_PRIVATE_KEY is not a usable secp256k1 private key") from None
            self.address = str(self._signer.address())
        self.funder = funder or self.address

    @property
    def signer(self) -> Any:
        return self._signer

    def prepare(
        self, request: OrderRequest, info: wire.MarketInfo, now_ms: int, owner: str = ""
    ) -> PreparedOrder:
        """Raises `OrderRefused` when rounding leaves no valid order."""
        market = info.market
        tick = market.tick
        if tick not in AMOUNT_DECIMALS:
            raise OrderRefused(f"market {market.market_id}: tick {tick / ONE} cannot be signed")
        price = round_price(request.price, tick, request.action)
        if not tick <= price <= ONE - tick:
            raise OrderRefused(
                f"price {request.price / ONE} rounds to {price / ONE},"
                f" outside [{tick / ONE}, {(ONE - tick) / ONE}]"
            )
        size = round_size(request.size)
        if size <= 0:
            raise OrderRefused(f"size {request.size / ONE} rounds to 0 shares")
        expiration = 0
        if request.order_type is OrderType.GTD:
            if request.expires_ms is None or request.expires_ms <= now_ms:
                raise OrderRefused("a GTD order needs an expiry in the future")
            expiration = math.ceil(request.expires_ms / 1000) + GTD_SECURITY_S
        maker, taker, shares = order_amounts(request.action, request.order_type, price, size, tick)
        if maker <= 0 or taker <= 0:
            raise OrderRefused(f"order too small: {size / ONE} shares at {price / ONE}")
        token = info.token_for(request.outcome)
        fields = {
            "maker": self.funder or "",
            "signer": self._order_signer(),
            "tokenId": token,
            "makerAmount": str(maker),
            "takerAmount": str(taker),
            "side": request.action.value,
            "expiration": str(expiration),
            "signatureType": self.signature_type,
            "timestamp": str(request.created_ms or time.time_ns() // 1_000_000),
            "salt": order_salt(self.funder or "", request.client_id),
        }
        if self._signer is not None:
            payload, order_hash = self._signed(fields, info.neg_risk, owner, request.order_type)
        else:
            payload, order_hash = self._unsigned(fields, owner, request.order_type), None
        return PreparedOrder(
            request, token, price, shares, maker, taker, expiration, tick, info.neg_risk, payload, order_hash
        )

    def _order_signer(self) -> str:
        if self.signature_type == 3:  # POLY_1271: the smart-contract wallet signs
            return self.funder or ""
        return self.address or ""

    def _builder(self, neg_risk: bool) -> Any:
        builder = self._builders.get(neg_risk)
        if builder is None:
            from py_clob_client_v2.config import get_contract_config
            from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2

            contracts = get_contract_config(self.chain_id)
            exchange = contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2
            builder = ExchangeOrderBuilderV2(exchange, self.chain_id, self._signer, domain_version="2")
            self._builders[neg_risk] = builder
        return builder

    def _signed(
        self, fields: dict[str, Any], neg_risk: bool, owner: str, order_type: OrderType
    ) -> tuple[dict[str, Any], str]:
        from py_clob_client_v2.order_utils import OrderDataV2, Side, SignatureTypeV2
        from py_clob_client_v2.order_utils.model.order_data_v2 import SignedOrderV2, order_to_json_v2

        builder = self._builder(neg_risk)
        data = OrderDataV2(
            maker=fields["maker"],
            tokenId=fields["tokenId"],
            makerAmount=fields["makerAmount"],
            takerAmount=fields["takerAmount"],
            side=Side.BUY if fields["side"] == "BUY" else Side.SELL,
            signer=fields["signer"],
            signatureType=SignatureTypeV2(self.signature_type),
            timestamp=fields["timestamp"],
            metadata=BYTES32_ZERO,
            builder=BYTES32_ZERO,
            expiration=fields["expiration"],
        )
        # the vendor's build_signed_order draws a random salt; ours comes from the intent
        unsigned = dataclasses.replace(builder.build_order(data), salt=str(fields["salt"]))
        typed = builder.build_order_typed_data(unsigned)
        signed = SignedOrderV2(
            **{**dataclasses.asdict(unsigned), "signature": builder.build_order_signature(typed)}
        )
        order_hash = str(builder.build_order_hash(typed))
        return order_to_json_v2(signed, owner, order_type.value, False, False), order_hash

    @staticmethod
    def _unsigned(fields: dict[str, Any], owner: str, order_type: OrderType) -> dict[str, Any]:
        order = {
            **fields,
            "metadata": BYTES32_ZERO,
            "builder": BYTES32_ZERO,
        }
        order["signature"] = ""
        return {
            "order": order,
            "owner": owner,
            "orderType": order_type.value,
            "deferExec": False,
            "postOnly": False,
        }


def l2_headers(
    signer: Any, creds: PolymarketCredentials, method: str, path: str, body: str | None
) -> dict[str, str]:
    """The L2 HMAC headers of one authenticated request (``py-clob-client-v2``'s)."""
    from py_clob_client_v2.clob_types import RequestArgs
    from py_clob_client_v2.headers.headers import create_level_2_headers

    try:
        headers = create_level_2_headers(
            signer, creds, RequestArgs(method=method, request_path=path, serialized_body=body)
        )
    except Exception:
        raise VenueFatal("cannot sign the request: the API secret is not valid base64") from None
    return {str(k): str(v) for k, v in headers.items()}
