"""A local stand-in for a Polygon JSON-RPC node, for redemption tests: it accepts signed
EIP-1559 transactions, and a `redeemPositions` call to a collateral adapter redeems on the
local CLOB server's exchange (bot/testing/clob_exchange.py `Exchange.redeem`): the sender's
tokens of that market are burnt and the collateral paid, as on chain. It also answers as
Polymarket's gasless relayer (`/deployed`, `/nonce`, `/relay-payload`, `/submit`,
`/transaction`) for Safe wallets: a submitted Safe call to an adapter redeems for the Safe.

    with ClobServer() as clob, ChainServer(clob.exchange, owner_of=lambda a: clob.api_key) as chain:
        ...  # [polymarket] rpc_url = chain.url

Answers `eth_chainId`, `eth_estimateGas` (a redeem of an unresolved market reverts, as it
would), `eth_getTransactionCount`, `eth_getBlockByNumber`, `eth_maxPriorityFeePerGas`,
`eth_sendRawTransaction` (the signature is recovered, the nonce checked) and
`eth_getTransactionReceipt` (null until `receipt_after` more requests have been answered, so
a test can catch a transaction pending). Faults: `revert_next()` (mined with status 0,
nothing moves), `refuse_next(message)` (a JSON-RPC error on send), `down` (HTTP 503).
Not modelled: gas accounting, blocks, logs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.errors import BotError
from bot.redemption.contracts import CHAIN_ID, COLLATERAL, CTF_ADAPTER, NEG_RISK_CTF_ADAPTER, decode_redeem
from bot.testing.clob_exchange import Exchange
from bot.testing.clob_wire import ClobError

ADAPTERS = {CTF_ADAPTER.lower(), NEG_RISK_CTF_ADAPTER.lower()}
RELAY_ADDRESS = "0x" + "7e" * 20  # the relayer's own address, as /relay-payload names it


class RpcError(BotError):
    """A JSON-RPC error answer (the node refuses or the call would revert)."""


@dataclass
class SentTransaction:
    hash: str
    sender: str
    to: str
    condition_id: str
    nonce: int
    status: int  # 1 success, 0 reverted
    paid_micros: int
    polls_left: int  # receipt lookups answered null before it shows


class ChainServer:
    def __init__(
        self,
        exchange: Exchange,
        owner_of: Callable[[str], str],
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        receipt_after: int = 0,
    ) -> None:
        self.exchange = exchange
        self.owner_of = owner_of
        self.receipt_after = receipt_after
        self.down = False
        self.transactions: list[SentTransaction] = []
        self._nonces: dict[str, int] = {}
        self._revert = 0
        self._refuse: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._reply(*server.relayer("GET", self.path, b"", dict(self.headers)))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/"):
                    self._reply(*server.relayer("POST", self.path, body, dict(self.headers)))
                else:
                    self._reply(*server.answer(body))

            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> ChainServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ChainServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------
    def revert_next(self, count: int = 1) -> None:
        self._revert += count

    def refuse_next(self, message: str = "insufficient funds for gas * price + value") -> None:
        self._refuse.append(message)

    def redeemed(self, condition_id: str) -> list[SentTransaction]:
        return [t for t in self.transactions if t.condition_id == condition_id.lower() and t.status]

    # -- the gasless relayer (py-builder-relayer-client's endpoints) ---------------------------
    def relayer(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        url = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.down:
            return 503, {"error": "service unavailable"}
        with self._lock:
            if (method, url.path) == ("GET", "/deployed"):
                return 200, {"deployed": True}
            if (method, url.path) in (("GET", "/nonce"), ("GET", "/relay-payload")):
                nonce = self._nonces.get(query.get("address", "").lower(), 0)
                return 200, {"nonce": str(nonce), "address": RELAY_ADDRESS}
            if (method, url.path) == ("GET", "/transaction"):
                return 200, self._relayed(query.get("id", ""))
            if (method, url.path) == ("POST", "/submit"):
                if not headers.get("POLY_BUILDER_API_KEY") or not headers.get("POLY_BUILDER_SIGNATURE"):
                    return 401, {"error": "invalid builder credentials"}
                return self._submit(json.loads(body or b"{}"))
        return 404, {"error": f"no route {method} {url.path}"}

    def _submit(self, request: dict[str, Any]) -> tuple[int, Any]:
        if self._refuse:
            return 400, {"error": self._refuse.pop(0)}
        if request.get("type") != "SAFE":
            return 400, {
                "error": f"this local relayer executes SAFE requests only, not {request.get('type')}"
            }
        wallet, signer = str(request.get("proxyWallet", "")).lower(), str(request.get("from", "")).lower()
        self._nonces[signer] = self._nonces.get(signer, 0) + 1
        tx_id, target = f"relayed-{len(self.transactions) + 1}", str(request.get("to", "")).lower()
        condition, status, paid = "", 1, 0
        try:
            condition = self._check_call(target, str(request.get("data", "")))
            if self._revert:
                self._revert -= 1
                status = 0
            else:
                paid = self.exchange.redeem(self.owner_of(wallet), condition)
        except (RpcError, ClobError):
            status = 0
        self.transactions.append(
            SentTransaction(
                tx_id,
                wallet,
                target,
                condition,
                0,
                status,
                paid,
                self.receipt_after,
            )
        )
        return 200, {"transactionID": tx_id, "state": "STATE_NEW"}

    def _relayed(self, tx_id: str) -> list[dict[str, Any]]:
        for tx in self.transactions:
            if tx.hash == tx_id:
                if tx.polls_left > 0:
                    tx.polls_left -= 1
                    state = "STATE_NEW"
                else:
                    state = "STATE_CONFIRMED" if tx.status else "STATE_FAILED"
                return [{"transactionID": tx.hash, "state": state, "transactionHash": "0x" + "00" * 32}]
        return []

    # -- JSON-RPC --------------------------------------------------------------------------
    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        if self.down:
            return 503, {"error": "service unavailable"}
        try:
            request = json.loads(body)
            method, params = request["method"], request.get("params") or []
        except (ValueError, KeyError, TypeError):
            return 200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
        try:
            with self._lock:
                result = self._call(method, params)
        except RpcError as exc:
            error = {"code": -32000, "message": str(exc)}
            return 200, {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
        return 200, {"jsonrpc": "2.0", "id": request.get("id"), "result": result}

    def _call(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(CHAIN_ID)
        if method == "eth_getTransactionCount":
            return hex(self._nonces.get(str(params[0]).lower(), 0))
        if method == "eth_getBlockByNumber":
            return {"number": hex(len(self.transactions) + 1), "baseFeePerGas": hex(25 * 10**9)}
        if method == "eth_maxPriorityFeePerGas":
            return hex(30 * 10**9)
        if method == "eth_estimateGas":
            tx = params[0]
            self._check_call(str(tx.get("to", "")), str(tx.get("data", "")))
            return hex(150_000)
        if method == "eth_sendRawTransaction":
            return self._send(str(params[0]))
        if method == "eth_getTransactionReceipt":
            return self._receipt(str(params[0]))
        raise RpcError(f"the method {method} does not exist/is not available")

    def _check_call(self, to: str, data: str) -> str:
        if to.lower() not in ADAPTERS:
            raise RpcError(f"execution reverted: {to} is not a collateral adapter")
        try:
            collateral, condition = decode_redeem(data)
        except ValueError as exc:
            raise RpcError(f"execution reverted: {exc}") from None
        if collateral.lower() != COLLATERAL.lower():
            raise RpcError("execution reverted: wrong collateral")
        try:  # one market by id: the listing is paged (100 a page), a soak holds over a thousand
            closed = bool(self.exchange.market_info(condition)["closed"])
        except ClobError:
            closed = False
        if not closed:
            raise RpcError("execution reverted: condition not resolved")
        return condition

    def _send(self, raw: str) -> str:
        from eth_account import Account
        from eth_account.typed_transactions import TypedTransaction
        from eth_utils import keccak
        from hexbytes import HexBytes

        if self._refuse:
            raise RpcError(self._refuse.pop(0))
        data = bytes.fromhex(raw.removeprefix("0x"))
        fields = TypedTransaction.from_bytes(HexBytes(data)).as_dict()
        sender = Account.recover_transaction(data).lower()
        nonce = int(fields["nonce"])
        if nonce != self._nonces.get(sender, 0):
            raise RpcError(f"nonce too low: next nonce {self._nonces.get(sender, 0)}, tx nonce {nonce}")
        if int(fields["chainId"]) != CHAIN_ID:
            raise RpcError("invalid chain id")
        self._nonces[sender] = nonce + 1
        to = "0x" + bytes(HexBytes(fields["to"])).hex()
        calldata = "0x" + bytes(HexBytes(fields["data"])).hex()
        tx_hash = "0x" + keccak(data).hex()
        condition, status, paid = "", 1, 0
        try:
            condition = self._check_call(to, calldata)
        except RpcError:
            status = 0
        if status and self._revert:
            self._revert -= 1
            status = 0
        if status:
            try:
                paid = self.exchange.redeem(self.owner_of(sender), condition)
            except ClobError:
                status = 0
        self.transactions.append(
            SentTransaction(tx_hash, sender, to, condition, nonce, status, paid, self.receipt_after)
        )
        return tx_hash

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        for tx in self.transactions:
            if tx.hash == tx_hash:
                if tx.polls_left > 0:
                    tx.polls_left -= 1
                    return None
                return {"transactionHash": tx.hash, "status": hex(tx.status), "blockNumber": "0x1"}
        return None
