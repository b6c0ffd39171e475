"""The contract call that redeems a resolved market, as calldata (shared/polymarket-realtime.md §5.1).

Since CLOB V2 it goes through a collateral adapter, chosen by the market's neg-risk flag:
`redeemPositions(collateral, parentCollectionId = 0, conditionId, indexSets = [1, 2])`. It has no
amount: it burns both outcome tokens the caller holds and pays the winner's collateral.
eth-abi and eth-utils come with the `live` extra; they are imported only when encoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.config import ConfigError

CHAIN_ID = 137  # Polygon
COLLATERAL = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"  # pUSD
CTF_ADAPTER = "0xAdA100Db00Ca00073811820692005400218FcE1f"
NEG_RISK_CTF_ADAPTER = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
REDEEM_SIGNATURE = "redeemPositions(address,bytes32,bytes32,uint256[])"
REDEEM_TYPES = ["address", "bytes32", "bytes32", "uint256[]"]
INDEX_SETS = (1, 2)  # both outcomes of a binary market
_CONDITION = re.compile(r"^0x[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class RedeemCall:
    """A transaction to send: `to` the adapter, with `data` as 0x-hex."""

    to: str
    data: str
    condition_id: str


def adapter_for(neg_risk: bool) -> str:
    return NEG_RISK_CTF_ADAPTER if neg_risk else CTF_ADAPTER


def redeem_call(condition_id: str, neg_risk: bool = False) -> RedeemCall:
    """The `redeemPositions` call for one market; `ConfigError` for a malformed condition id."""
    if not _CONDITION.match(condition_id):
        raise ConfigError(f"cannot redeem {condition_id!r}: a condition id is 0x followed by 64 hex digits")
    from eth_abi import encode
    from eth_utils import keccak

    selector = keccak(text=REDEEM_SIGNATURE)[:4]
    args = [COLLATERAL, bytes(32), bytes.fromhex(condition_id[2:]), list(INDEX_SETS)]
    data = "0x" + (selector + encode(REDEEM_TYPES, args)).hex()
    return RedeemCall(adapter_for(neg_risk), data, condition_id.lower())


def decode_redeem(data: str) -> tuple[str, str]:
    """(collateral, condition id) of `redeemPositions` calldata; ValueError if it is another call."""
    from eth_abi import decode
    from eth_utils import keccak

    raw = bytes.fromhex(data.removeprefix("0x"))
    if raw[:4] != keccak(text=REDEEM_SIGNATURE)[:4]:
        raise ValueError("not a redeemPositions call")
    collateral, _, condition, _ = decode(REDEEM_TYPES, raw[4:])
    return str(collateral), "0x" + bytes(condition).hex()
