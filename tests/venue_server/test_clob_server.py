"""bot.testing.clob_server driven end to end by the real py-clob-client-v2 (no internet)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from py_clob_client_v2 import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    ClobClient,
    MarketOrderArgs,
    OrderArgs,
    OrderMarketCancelParams,
    OrderPayload,
    OrderType,
    PartialCreateOrderOptions,
    PostOrdersV2Args,
    PricesHistoryParams,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.http_helpers import helpers as http_helpers

from bot.testing.clob_exchange import Exchange
from bot.testing.clob_server import ClobServer
from bot.testing.clob_wire import sign_l2

KEY = "0x" + "11" * 32
COND = "0x" + "c0" * 32
UP, DOWN = "1001", "1002"
OPTS = PartialCreateOrderOptions(tick_size="0.01", neg_risk=False)
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[ClobServer]:
    with ClobServer(trade_settle_s=0.2) as srv:
        srv.add_market(COND, (UP, DOWN), tick=0.01, min_size=5)
        srv.set_book(UP, bids=[(0.48, 100), (0.47, 200)], asks=[(0.52, 5), (0.53, 100)])
        yield srv


@pytest.fixture
def client(server: ClobServer) -> ClobClient:
    return ClobClient(server.url, 137, key=KEY, creds=ApiCreds(*server.creds))


def buy(
    client: ClobClient,
    price: float,
    size: float,
    token: str = UP,
    order_type: str = OrderType.GTC,
    **kwargs: Any,
) -> Any:
    args = OrderArgs(token_id=token, price=price, size=size, side="BUY", **kwargs)
    return client.create_and_post_order(args, OPTS, order_type)


def api_error(call: Callable[[], object]) -> PolyApiException:
    with pytest.raises(PolyApiException) as info:
        call()
    return info.value


def wait_for(predicate: Callable[[], T], timeout: float = 2.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met before the deadline")


def open_ids(client: ClobClient) -> list[str]:
    return [o["id"] for o in client.get_open_orders()]


def test_l1_create_and_derive_api_key(server: ClobServer) -> None:
    l1 = ClobClient(server.url, 137, key=KEY)
    created, derived = l1.create_api_key(), l1.derive_api_key()
    assert created == derived
    assert (created.api_key, created.api_secret, created.api_passphrase) == server.creds_for(l1.get_address())
    assert len(base64.urlsafe_b64decode(created.api_secret)) == 32
    l1.set_api_creds(created)
    assert l1.get_open_orders() == []
    assert httpx.get(server.url + "/auth/derive-api-key").status_code == 401  # no L1 headers
    stranger = ClobClient(server.url, 137, key="0x" + "22" * 32, creds=created)
    assert api_error(stranger.get_open_orders).status_code == 401  # creds bound to the address


def test_public_endpoints(server: ClobServer, client: ClobClient) -> None:
    assert client.get_ok() == "OK"
    assert client.get_version() == 2
    assert abs(client.get_server_time() - time.time()) < 5
    book = client.get_order_book(UP)
    assert [b["price"] for b in book["bids"]] == ["0.47", "0.48"]  # best bid last
    assert [a["price"] for a in book["asks"]] == ["0.53", "0.52"]  # best ask last
    assert (book["market"], book["tick_size"], book["min_order_size"]) == (COND, "0.01", "5")
    assert book["neg_risk"] is False
    assert client.get_order_book_hash(book) == book["hash"]
    assert client.get_midpoint(UP) == {"mid": "0.5"}
    assert client.get_price(UP, "BUY") == {"price": "0.48"}
    assert client.get_spread(UP) == {"spread": "0.04"}
    assert client.get_last_trade_price(UP)["price"] == "0.5"
    assert client.get_tick_size(UP) == "0.01"
    assert client.get_neg_risk(UP) is False
    fresh = ClobClient(server.url, 137, key=KEY)
    assert fresh.get_fee_exponent(UP) == 1  # via /markets-by-token then /clob-markets
    info = client.get_clob_market_info(COND)
    assert [t["t"] for t in info["t"]] == [UP, DOWN]
    assert info["mos"] == 5
    history = client.get_prices_history(PricesHistoryParams(market=UP, interval="1d"))
    assert history["history"][-1]["p"] == 0.5
    err = api_error(lambda: client.get_order_book("999"))
    assert err.status_code == 404
    assert "orderbook" in err.error_msg["error"]


def test_pagination_of_markets_orders_and_trades() -> None:
    with ClobServer(page_size=1) as server:
        for i in range(3):
            server.add_market(f"0x{i:064x}", (str(100 + 2 * i), str(101 + 2 * i)))
        client = ClobClient(server.url, 137, key=KEY, creds=ApiCreds(*server.creds))
        for getter in (client.get_markets, client.get_simplified_markets):
            cursor, seen = "MA==", []
            while cursor != "LTE=":
                page = getter(cursor)
                seen += [m["condition_id"] for m in page["data"]]
                cursor = page["next_cursor"]
            assert seen == [f"0x{i:064x}" for i in range(3)]
        ids = [buy(client, 0.4, 5, token="100")["orderID"] for _ in range(3)]
        server.clear_requests()
        assert sorted(open_ids(client)) == sorted(ids)
        assert [r.query["next_cursor"] for r in server.requests] == ["MA==", "MQ==", "Mg=="]
        server.cross("100", 0.4, 15)
        assert len(client.get_trades()) == 3
        first = client.get_trades_paginated()
        assert len(first["trades"]) == 1
        assert first["next_cursor"] == "MQ=="


def test_gtc_buy_rests_then_fills_partially_and_fully_by_cross(
    server: ClobServer, client: ClobClient
) -> None:
    resp = buy(client, 0.50, 10)
    assert (resp["success"], resp["status"], resp["transactionsHashes"]) == (True, "live", [])
    order_id = resp["orderID"]
    assert open_ids(client) == [order_id]
    assert client.get_order_book(UP)["bids"][-1] == {"price": "0.5", "size": "10"}

    [first] = server.cross(UP, 0.50, 4)
    order = client.get_order(order_id)
    assert (order["status"], order["size_matched"], order["original_size"]) == ("LIVE", "4", "10")
    [trade] = client.get_trades()
    assert (trade["id"], trade["trader_side"], trade["side"], trade["size"]) == (first, "MAKER", "SELL", "4")
    maker = trade["maker_orders"][0]
    assert (maker["order_id"], maker["side"], maker["price"], maker["matched_amount"]) == (
        order_id,
        "BUY",
        "0.5",
        "4",
    )
    assert trade["status"] == "MATCHED"
    assert trade["transaction_hash"].startswith("0x")

    server.cross(UP, 0.50, 100)  # only the 6 remaining shares can fill
    assert client.get_order(order_id)["status"] == "MATCHED"
    assert client.get_order(order_id)["size_matched"] == "10"
    assert client.get_open_orders() == []
    assert server.balance() == pytest.approx(995.0)
    assert server.position(UP) == 10
    wait_for(lambda: {t["status"] for t in client.get_trades()} == {"CONFIRMED"})

    other = buy(client, 0.45, 5)["orderID"]
    server.trade_against(other, 2)
    assert client.get_order(other)["size_matched"] == "2"


def test_marketable_buy_matches_at_once_with_hashes_and_fees(server: ClobServer, client: ClobClient) -> None:
    server.add_market("0x" + "fe" * 32, ("2001", "2002"), fee_rate=0.07)
    server.set_book("2001", asks=[(0.52, 5), (0.53, 100)])
    start = time.monotonic()
    resp = buy(client, 0.53, 10, token="2001")
    assert time.monotonic() - start < 1.0  # transactionsHashes returned: the client didn't poll
    assert resp["status"] == "matched"
    assert len(resp["transactionsHashes"]) == len(resp["tradeIDs"]) == 2
    assert (resp["makingAmount"], resp["takingAmount"]) == ("5.25", "10")
    fee = 5 * 0.07 * 0.52 * 0.48 + 5 * 0.07 * 0.53 * 0.47
    assert server.balance() == pytest.approx(1000 - 5.25 - fee, abs=1e-6)
    trades = client.get_trades(TradeParams(asset_id="2001"))
    assert sorted(t["price"] for t in trades) == ["0.52", "0.53"]
    assert {(t["trader_side"], t["side"], t["fee_rate_bps"]) for t in trades} == {("TAKER", "BUY", "700")}
    assert client.get_order_book("2001")["asks"] == [{"price": "0.53", "size": "95"}]
    conditional = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id="2001")
    assert client.get_balance_allowance(conditional)["balance"] == "10000000"


def test_fok_rejected_fak_partial_and_market_sell(server: ClobServer, client: ClobClient) -> None:
    def market(side: str, amount: float, price: float, order_type: str) -> Any:
        args = MarketOrderArgs(token_id=UP, amount=amount, side=side, price=price, order_type=order_type)
        return client.create_and_post_market_order(args, OPTS, order_type)

    err = api_error(lambda: market("BUY", 100, 0.52, OrderType.FOK))
    assert err.status_code == 400
    assert "FOK" in err.error_msg["error"]
    assert client.get_order_book(UP)["asks"][-1] == {"price": "0.52", "size": "5"}  # untouched

    resp = market("BUY", 100, 0.52, OrderType.FAK)
    assert (resp["status"], resp["makingAmount"], resp["takingAmount"]) == ("matched", "2.6", "5")
    assert client.get_open_orders() == []  # the unfilled rest was cancelled
    err = api_error(lambda: market("BUY", 100, 0.52, OrderType.FAK))
    assert err.status_code == 400
    assert "FAK" in err.error_msg["error"]

    resp = market("BUY", 10, 0.53, OrderType.FOK)
    assert resp["takingAmount"] == "18.867924"
    server.set_position(UP, 20)
    resp = market("SELL", 10, 0.48, OrderType.FOK)
    assert (resp["makingAmount"], resp["takingAmount"]) == ("10", "4.8")
    assert server.position(UP) == 10


def test_post_only(client: ClobClient) -> None:
    args = OrderArgs(token_id=UP, price=0.52, size=5, side="BUY")
    err = api_error(lambda: client.create_and_post_order(args, OPTS, OrderType.GTC, post_only=True))
    assert err.status_code == 400
    assert "post-only" in err.error_msg["error"]
    args = OrderArgs(token_id=UP, price=0.49, size=5, side="BUY")
    assert client.create_and_post_order(args, OPTS, OrderType.GTC, post_only=True)["status"] == "live"


def test_cancel_variants(client: ClobClient) -> None:
    ids = [buy(client, p, 5)["orderID"] for p in (0.40, 0.41, 0.42, 0.43)]
    down = buy(client, 0.30, 5, token=DOWN)["orderID"]
    assert client.cancel_order(OrderPayload(orderID=ids[0])) == {"canceled": [ids[0]], "not_canceled": {}}
    again = client.cancel_order(OrderPayload(orderID=ids[0]))
    assert again["canceled"] == []
    assert ids[0] in again["not_canceled"]
    resp = client.cancel_orders([ids[1], "0xdead"])
    assert resp["canceled"] == [ids[1]]
    assert list(resp["not_canceled"]) == ["0xdead"]
    assert client.cancel_market_orders(OrderMarketCancelParams(asset_id=DOWN))["canceled"] == [down]
    assert sorted(client.cancel_all()["canceled"]) == sorted(ids[2:])
    assert client.get_open_orders() == []
    assert client.get_order(ids[0])["status"] == "CANCELED"


def test_batch_orders(client: ClobClient) -> None:
    def signed(size: float) -> PostOrdersV2Args:
        args = OrderArgs(token_id=UP, price=0.40, size=size, side="BUY")
        return PostOrdersV2Args(order=client.create_order(args, OPTS))

    good, small = client.post_orders([signed(5), signed(1)])
    assert good["success"]
    assert good["status"] == "live"
    assert not small["success"]
    assert "minimum" in small["errorMsg"]
    err = api_error(lambda: client.post_orders([signed(5) for _ in range(16)]))
    assert err.status_code == 400
    assert "15" in err.error_msg["error"]


def test_balance_allowance_and_refusals(server: ClobServer, client: ClobClient) -> None:
    server.set_balance(3.0)
    collateral = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    resp = client.get_balance_allowance(collateral)
    assert resp["balance"] == "3000000"
    assert resp["allowances"]
    err = api_error(lambda: buy(client, 0.5, 10))
    assert (err.status_code, err.error_msg) == (400, {"error": "not enough balance / allowance"})
    assert buy(client, 0.5, 6)["status"] == "live"  # exactly 3.00
    assert api_error(lambda: buy(client, 0.1, 5)).status_code == 400  # 3.00 already reserved
    sell = OrderArgs(token_id=UP, price=0.6, size=5, side="SELL")
    assert api_error(lambda: client.create_and_post_order(sell, OPTS)).status_code == 400
    assert client.update_balance_allowance(collateral)["balance"] == "3000000"


def test_bad_auth_is_401(server: ClobServer, client: ClobClient) -> None:
    wrong_secret = base64.urlsafe_b64encode(b"x" * 32).decode()
    for creds in (
        ApiCreds(server.api_key, wrong_secret, server.api_passphrase),
        ApiCreds(server.api_key, server.api_secret, "wrong"),
        ApiCreds("unknown", server.api_secret, server.api_passphrase),
    ):
        bad = ClobClient(server.url, 137, key=KEY, creds=creds)
        err = api_error(bad.get_open_orders)
        assert (err.status_code, err.error_msg) == (401, {"error": "Unauthorized/Invalid api key"})

    def delete(signed_body: str, sent_body: str) -> int:
        ts = str(int(time.time()))
        headers = {
            "POLY_ADDRESS": client.get_address(),
            "POLY_TIMESTAMP": ts,
            "POLY_API_KEY": server.api_key,
            "POLY_PASSPHRASE": server.api_passphrase,
            "POLY_SIGNATURE": sign_l2(server.api_secret, ts, "DELETE", "/order", signed_body),
        }
        return httpx.request("DELETE", server.url + "/order", headers=headers, content=sent_body).status_code

    assert delete('{"orderID":"0x1"}', '{"orderID":"0x1"}') == 200
    assert delete('{"orderID":"0x1"}', '{"orderID":"0x2"}') == 401  # tampered body


def test_tick_size_change(server: ClobServer, client: ClobClient) -> None:
    assert buy(client, 0.45, 5)["success"]  # the client caches tick 0.01
    server.set_tick(UP, 0.1)
    err = api_error(lambda: buy(client, 0.45, 5))
    assert err.status_code == 400
    assert "tick size" in err.error_msg["error"]
    assert buy(client, 0.4, 5)["status"] == "live"
    fresh = ClobClient(server.url, 137, key=KEY, creds=ApiCreds(*server.creds))
    assert fresh.get_tick_size(UP) == "0.1"
    assert fresh.get_order_book(UP)["tick_size"] == "0.1"


def test_gtd_validation_and_expiry(server: ClobServer, client: ClobClient) -> None:
    now = int(time.time())
    err = api_error(lambda: buy(client, 0.45, 5, order_type=OrderType.GTD, expiration=now + 30))
    assert err.status_code == 400
    assert "expiration" in err.error_msg["error"]
    order_id = buy(client, 0.45, 5, order_type=OrderType.GTD, expiration=now + 120)["orderID"]
    assert open_ids(client) == [order_id]
    server.exchange.clock = lambda: time.time() + 200
    assert client.get_open_orders() == []
    assert client.get_order(order_id)["status"] == "CANCELED"


def test_heartbeat_dead_man_switch(server: ClobServer, client: ClobClient) -> None:
    server.exchange.heartbeat_timeout_s = 0.5
    order_id = buy(client, 0.45, 5)["orderID"]
    heartbeat_id = client.post_heartbeat()["heartbeat_id"]
    for _ in range(4):
        time.sleep(0.1)
        assert client.post_heartbeat(heartbeat_id) == {"heartbeat_id": heartbeat_id}
    assert open_ids(client) == [order_id]
    wait_for(lambda: client.get_order(order_id)["status"] == "CANCELED")


def test_resolution_cancels_and_closes(server: ClobServer, client: ClobClient) -> None:
    order_id = buy(client, 0.45, 5)["orderID"]
    server.resolve(COND, UP)
    assert client.get_order(order_id)["status"] == "CANCELED_MARKET_RESOLVED"
    assert api_error(lambda: buy(client, 0.45, 5)).status_code == 400
    [market] = client.get_markets()["data"]
    assert market["closed"]
    assert [t["winner"] for t in market["tokens"]] == [True, False]


def test_fault_statuses(server: ClobServer, client: ClobClient) -> None:
    for status in (500, 503, 425, 429):
        server.fail_next("GET", "/data/orders", status)
        assert api_error(client.get_open_orders).status_code == status
    assert client.get_open_orders() == []  # each fault was used up
    server.fail_next("POST", "/order", 503, count=2, error="trading is cancel-only")
    err = api_error(lambda: buy(client, 0.45, 5))
    assert (err.status_code, err.error_msg) == (503, {"error": "trading is cancel-only"})
    assert api_error(lambda: buy(client, 0.45, 5)).status_code == 503
    assert buy(client, 0.45, 5)["status"] == "live"
    server.fail_next("GET", "/ok", 429, retry_after=2)
    resp = httpx.get(server.url + "/ok")
    assert (resp.status_code, resp.headers["Retry-After"]) == (429, "2")


def test_fault_malformed_and_dropped(server: ClobServer, client: ClobClient) -> None:
    server.malformed_next("POST", "/order")
    assert isinstance(buy(client, 0.45, 5), str)  # the client hands back the unparsable text
    server.drop_next("POST", "/order")
    assert api_error(lambda: buy(client, 0.45, 5)).status_code is None  # network failure
    assert client.get_open_orders() == []  # neither was applied


def test_fault_delay_past_client_timeout_still_places(
    server: ClobServer, client: ClobClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_helpers._http_client, "timeout", httpx.Timeout(0.25))
    server.delay_next("POST", "/order", 0.6)
    start = time.monotonic()
    assert api_error(lambda: buy(client, 0.45, 5)).status_code is None
    assert time.monotonic() - start < 0.55
    [order] = wait_for(lambda: server.exchange.orders(server.api_key, live_only=True))
    assert order["price"] == "0.45"


def test_fault_lost_response_then_duplicate(client: ClobClient, server: ClobServer) -> None:
    order = client.create_order(OrderArgs(token_id=UP, price=0.45, size=5, side="BUY"), OPTS)
    server.lose_next_response("POST", "/order", 502)
    assert api_error(lambda: client.post_order(order)).status_code == 502
    assert [o["price"] for o in client.get_open_orders()] == ["0.45"]  # it rests regardless
    err = api_error(lambda: client.post_order(order))
    assert err.status_code == 400
    assert "Duplicated" in err.error_msg["error"]


def test_fill_after_cancel(server: ClobServer, client: ClobClient) -> None:
    order_id = buy(client, 0.45, 10)["orderID"]
    server.fill_after_cancel()
    assert client.cancel_order(OrderPayload(orderID=order_id))["canceled"] == [order_id]
    [trade] = client.get_trades()
    assert trade["maker_orders"][0]["order_id"] == order_id
    order = client.get_order(order_id)
    assert (order["status"], order["size_matched"]) == ("CANCELED", "10")
    assert server.position(UP) == 10
    assert server.balance() == pytest.approx(995.5)


def test_duplicate_trade(server: ClobServer, client: ClobClient) -> None:
    buy(client, 0.45, 10)
    server.duplicate_trades()
    [trade_id] = server.cross(UP, 0.45, 10)
    assert [t["id"] for t in client.get_trades()] == [trade_id, trade_id]


def test_request_log_hides_secrets(server: ClobServer, client: ClobClient) -> None:
    client.get_open_orders()
    [req] = [r for r in server.requests if r.path == "/data/orders"]
    assert (req.method, req.query["next_cursor"], req.body) == ("GET", "MA==", None)
    assert req.headers["POLY_API_KEY"] == server.api_key
    assert "POLY_SIGNATURE" not in req.headers
    assert "POLY_PASSPHRASE" not in req.headers


def test_exchange_without_http() -> None:
    ex = Exchange(default_balance=100)
    ex.add_market(COND, (UP, DOWN))
    ex.set_book(UP, asks=[(0.6, 5)])

    def payload(owner: str, side: str, maker: int, taker: int, salt: int) -> dict[str, Any]:
        order = {
            "salt": salt,
            "maker": "0xm",
            "signer": "0xm",
            "tokenId": UP,
            "side": side,
            "makerAmount": str(maker),
            "takerAmount": str(taker),
            "expiration": "0",
            "signatureType": 0,
            "timestamp": "1",
            "signature": f"0xsig{salt}",
        }
        return {"order": order, "owner": owner, "orderType": "GTC", "postOnly": False}

    resp = ex.place("a", None, payload("a", "BUY", 3_000_000, 5_000_000, 1))  # 5 @ 0.60
    assert (resp["status"], resp["takingAmount"]) == ("matched", "5")
    assert ex.position("a", UP) == 5
    assert ex.balance("a") == pytest.approx(97)
    resting = ex.place("a", None, payload("a", "SELL", 5_000_000, 3_500_000, 2))  # 5 @ 0.70
    taker = ex.place("b", None, payload("b", "BUY", 3_500_000, 5_000_000, 3))
    assert taker["tradeIDs"]
    assert resting["status"] == "live"
    assert ex.orders("a")[1]["status"] == "MATCHED"
    assert ex.position("b", UP) == 5
    [maker_row] = ex.trades("a", {"asset_id": UP, "id": taker["tradeIDs"][0]})["data"]
    assert (maker_row["trader_side"], maker_row["side"], maker_row["price"]) == ("MAKER", "BUY", "0.7")
    with pytest.raises(Exception, match="order_version_mismatch"):
        ex.place("a", None, {"order": {"nonce": "0"}, "owner": "a"})


def test_runnable_by_hand() -> None:
    cmd = [sys.executable, "-m", "bot.testing.clob_server", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # the JSON block ends with a "}" line
            lines.append(line)
            if line.rstrip() == "}":
                break
        info = json.loads("".join(lines))
        book = httpx.get(info["url"] + "/book", params={"token_id": info["tokens"][0]}).json()
        assert book["asks"][-1]["price"] == "0.52"
        assert info["api_key"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
