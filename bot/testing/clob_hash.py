"""The order id the venue gives a signed CLOB V2 order: its EIP-712 hash on the exchange
contract (Polygon, chain 137), as ``py-clob-client-v2`` computes it.

The real venue uses this hash as the order id, so a re-sent signed order has the same id and
is refused as a duplicate, and a client can look an order up by the hash it signed even when
the answer to its post was lost. The local server does the same with this function. The
vendor package is imported on first use (it costs about 1.5 s, so the server's first order
answers that much later); `warm_up()` pays it ahead (the soak does, so that the bot's first
order is not held a second, 100 market seconds at 100x).
"""

from __future__ import annotations

import functools
from typing import Any

CHAIN_ID = 137


@functools.cache
def _builder(neg_risk: bool) -> Any:
    from py_clob_client_v2.config import get_contract_config
    from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2

    contracts = get_contract_config(CHAIN_ID)
    exchange = contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2
    return ExchangeOrderBuilderV2(exchange, CHAIN_ID, None, domain_version="2")


def warm_up() -> None:
    """Import the vendor package and build both order builders now, not at the first order."""
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2  # noqa: F401

    _builder(False)
    _builder(True)


def order_hash(order: dict[str, Any], neg_risk: bool) -> str:
    """``0x…`` hash of the ``order`` object of a ``POST /order`` body (raises ValueError or
    KeyError on a malformed one)."""
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2

    builder = _builder(neg_risk)
    unsigned = OrderV2(
        salt=str(order["salt"]),
        maker=str(order["maker"]),
        signer=str(order["signer"]),
        tokenId=str(order["tokenId"]),
        makerAmount=str(order["makerAmount"]),
        takerAmount=str(order["takerAmount"]),
        side=0 if order["side"] == "BUY" else 1,
        signatureType=int(order["signatureType"]),
        timestamp=str(order["timestamp"]),
        metadata=str(order.get("metadata") or "0x" + "0" * 64),
        builder=str(order.get("builder") or "0x" + "0" * 64),
        expiration=str(order.get("expiration") or "0"),
    )
    return str(builder.build_order_hash(builder.build_order_typed_data(unsigned)))
