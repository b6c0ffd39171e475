"""Who sends a redemption: the wallet itself through a Polygon RPC (EOA), or the relayer.

A sender has two calls, both blocking (the job runs them off the engine's thread):
`send(call) -> transaction id` and `status(id) -> (state, reason)` with state PENDING,
CONFIRMED or FAILED. A transport failure raises `VenueUnavailable` (try again later); a
transaction the chain refuses or reverts is FAILED with the node's words. The private key is
only ever handed to eth-account's signer: never logged, never in an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bot.config import ConfigError, PolymarketConfig
from bot.errors import OrderRefused, VenueUnavailable
from bot.redemption.contracts import CHAIN_ID, RedeemCall

log = logging.getLogger("bot")
PENDING, CONFIRMED, FAILED = "PENDING", "CONFIRMED", "FAILED"
GAS_MARGIN = 1.25  # eth_estimateGas is exact for the state it ran on; leave room
DEFAULT_TIP_WEI = 30 * 10**9  # Polygon's usual minimum priority fee (30 gwei)


class Sender(Protocol):
    kind: str

    def send(self, call: RedeemCall) -> str: ...

    def status(self, tx_id: str) -> tuple[str, str]: ...


class RedemptionRefused(OrderRefused):
    """The chain or the relayer refused the transaction outright (it would revert, no gas)."""


class RpcRefused(RedemptionRefused):
    """The node answered with a JSON-RPC error (the transaction would revert, a bad nonce)."""


class JsonRpc:
    """A minimal JSON-RPC 2.0 client over httpx (one connection pool, a timeout per call)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        import httpx

        self.url = url
        self._http = httpx.Client(timeout=timeout_s)
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        import httpx

        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        try:
            response = self._http.post(self.url, json=body)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise VenueUnavailable(f"Polygon RPC {method}: {type(exc).__name__}: {exc}") from None
        if not isinstance(answer, dict):
            raise VenueUnavailable(f"Polygon RPC {method}: the answer is not a JSON-RPC object")
        if answer.get("error"):
            error = answer["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RpcRefused(f"{method}: {message}")
        return answer.get("result")

    def close(self) -> None:
        self._http.close()


class EoaSender:
    """A plain wallet (signature_type 0) sends `redeemPositions` itself: EIP-1559, gas from the
    wallet. The adapter pays the wallet that calls it, which is this EOA."""

    kind = "EOA"

    def __init__(self, rpc_url: str, private_key: str, chain_id: int = CHAIN_ID) -> None:
        from eth_account import Account

        self._account = Account.from_key(private_key)
        self.address: str = self._account.address
        self.chain_id = chain_id
        self.rpc = JsonRpc(rpc_url)

    def send(self, call: RedeemCall) -> str:
        tx = {"from": self.address, "to": call.to, "data": call.data, "value": "0x0"}
        try:
            gas = int(int(self.rpc.call("eth_estimateGas", tx), 16) * GAS_MARGIN)
            nonce = int(self.rpc.call("eth_getTransactionCount", self.address, "pending"), 16)
            block = self.rpc.call("eth_getBlockByNumber", "latest", False) or {}
            base = int(block.get("baseFeePerGas") or "0x0", 16)
            try:
                tip = int(self.rpc.call("eth_maxPriorityFeePerGas"), 16)
            except RpcRefused:
                tip = DEFAULT_TIP_WEI
            signed = self._account.sign_transaction(
                {
                    "type": 2,
                    "chainId": self.chain_id,
                    "nonce": nonce,
                    "to": call.to,
                    "value": 0,
                    "data": call.data,
                    "gas": gas,
                    "maxPriorityFeePerGas": tip,
                    "maxFeePerGas": 2 * base + tip,
                }
            )
        except RpcRefused as exc:
            raise RedemptionRefused(str(exc)) from None
        tx_hash = "0x" + signed.hash.hex().removeprefix("0x")
        try:
            self.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex().removeprefix("0x"))
        except RpcRefused as exc:
            raise RedemptionRefused(str(exc)) from None
        except VenueUnavailable:
            log.warning("no answer to eth_sendRawTransaction: looking for %s's receipt", tx_hash)
        return tx_hash  # sent, or perhaps sent: its receipt tells

    def status(self, tx_id: str) -> tuple[str, str]:
        try:
            receipt = self.rpc.call("eth_getTransactionReceipt", tx_id)
        except RpcRefused as exc:
            return FAILED, str(exc)
        if not receipt:
            return PENDING, ""
        if int(receipt.get("status") or "0x0", 16) == 1:
            return CONFIRMED, ""
        return FAILED, f"transaction {tx_id} reverted on chain"


class RelayerSender:
    """Proxy and Safe wallets (signature_type 1 and 2): the tokens sit in a contract wallet, so
    the call must come from it. Polymarket's gasless relayer executes it, signed by the owner's
    key (py-builder-relayer-client, `live` extra), authenticated with builder API credentials.
    It is asked to run the redeem call only: never a deployment or an approval."""

    kind = "RELAYER"
    DONE = ("STATE_MINED", "STATE_CONFIRMED")
    BROKEN = ("STATE_FAILED", "STATE_INVALID")

    def __init__(
        self, url: str, private_key: str, chain_id: int, safe: bool, builder: tuple[str, str, str]
    ) -> None:
        from py_builder_relayer_client.client import RelayClient
        from py_builder_relayer_client.models import RelayerTxType
        from py_builder_signing_sdk.config import BuilderConfig
        from py_builder_signing_sdk.sdk_types import BuilderApiKeyCreds

        key, secret, passphrase = builder
        config = BuilderConfig(local_builder_creds=BuilderApiKeyCreds(key, secret, passphrase))
        kind = RelayerTxType.SAFE if safe else RelayerTxType.PROXY
        self._client = RelayClient(url, chain_id, private_key, config, kind)

    def send(self, call: RedeemCall) -> str:
        from py_builder_relayer_client.models import Transaction

        response = self._relay(
            lambda: self._client.execute(
                [Transaction(call.to, call.data, "0")], f"redeem {call.condition_id}"
            )
        )
        if not response.transaction_id:
            raise RedemptionRefused("the relayer answered without a transaction id")
        return str(response.transaction_id)

    def status(self, tx_id: str) -> tuple[str, str]:
        rows = self._relay(lambda: self._client.get_transaction(tx_id))
        state = str(rows[0].get("state", "")) if isinstance(rows, list) and rows else ""
        if state in self.DONE:
            return CONFIRMED, ""
        if state in self.BROKEN:
            return FAILED, f"the relayer reports {state} for transaction {tx_id}"
        return PENDING, ""

    @staticmethod
    def _relay(action: Any) -> Any:
        from py_builder_relayer_client.exceptions import RelayerApiException, RelayerClientException

        try:
            return action()
        except RelayerApiException as exc:
            status = getattr(exc, "status_code", None)
            if status is None or status >= 500 or status == 429:
                raise VenueUnavailable(f"relayer: {exc.error_msg}") from None
            raise RedemptionRefused(f"relayer refused ({status}): {exc.error_msg}") from None
        except RelayerClientException as exc:
            raise RedemptionRefused(f"relayer: {exc.msg}") from None


def sender_for(pm: PolymarketConfig, private_key: str, environ: Mapping[str, str]) -> Sender:
    """The sender the wallet's kind needs; a one-line `ConfigError` when it cannot redeem."""
    if pm.signature_type == 0:
        if not pm.rpc_url:
            raise ConfigError(
                "[polymarket] rpc_url is not set: an EOA wallet (signature_type = 0) redeems through"
                " a Polygon JSON-RPC node (gas paid in POL from the wallet)"
            )
        return EoaSender(pm.rpc_url, private_key, pm.chain_id)
    names = ("POLYMARKET_BUILDER_API_KEY", "POLYMARKET_BUILDER_SECRET", "POLYMARKET_BUILDER_PASSPHRASE")
    key, secret, passphrase = ((environ.get(n) or "").strip() for n in names)
    if not (key and secret and passphrase):
        given = (key, secret, passphrase)
        missing = ", ".join(n for n, v in zip(names, given, strict=True) if not v)
        raise ConfigError(
            f"{missing} not set: a proxy or Safe wallet (signature_type = {pm.signature_type}) redeems"
            " through Polymarket's gasless relayer, which needs builder API credentials"
        )
    safe = pm.signature_type == 2
    return RelayerSender(pm.relayer_url, private_key, pm.chain_id, safe, (key, secret, passphrase))
