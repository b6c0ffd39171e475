"""Redemption on chain: the job (bot/redemption/job.py) with the EOA sender against the local
Polygon node (bot/testing/chain_server.py), which redeems on the local CLOB exchange."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.journal import Journal
from bot.redemption.contracts import CTF_ADAPTER, NEG_RISK_CTF_ADAPTER, decode_redeem, redeem_call
from bot.redemption.job import Candidate, Redeemer, State, from_row, to_row
from bot.redemption.senders import EoaSender
from bot.testing.chain_server import ChainServer
from bot.testing.clob_exchange import Exchange

KEY = "0x" + "22" * 32
OWNER = "owner-key"
CONDITION = "0x" + "ab" * 32
UP, DOWN = "1001", "1002"


@pytest.fixture
def exchange() -> Exchange:
    ex = Exchange(default_balance=100.0)
    ex.add_market(CONDITION, (UP, DOWN))
    ex.set_position(OWNER, UP, 10)
    ex.set_position(OWNER, DOWN, 3)
    return ex


@pytest.fixture
def chain(exchange: Exchange) -> Iterator[ChainServer]:
    with ChainServer(exchange, owner_of=lambda address: OWNER) as server:
        yield server


def candidate() -> Candidate:
    return Candidate(CONDITION, neg_risk=False, payout_micros=10_000_000)


def test_the_calldata_is_redeem_positions_on_the_adapter() -> None:
    call = redeem_call(CONDITION)
    assert call.to == CTF_ADAPTER
    assert redeem_call(CONDITION, neg_risk=True).to == NEG_RISK_CTF_ADAPTER
    collateral, condition = decode_redeem(call.data)
    assert condition == CONDITION
    assert collateral.lower() == "0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb"
    assert call.data.startswith("0x")


def test_a_malformed_condition_id_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="condition id is 0x followed by 64 hex digits"):
        redeem_call("BTC-UPDOWN")


def test_a_won_market_is_redeemed_once_and_pays_the_winner(exchange: Exchange, chain: ChainServer) -> None:
    exchange.resolve(CONDITION, UP)
    redeemer = Redeemer(EoaSender(chain.url, KEY))
    first = redeemer.step([candidate()], 1_000)
    assert [r.state for r in first] == [State.REDEEMABLE, State.REDEEMING]
    assert first[-1].tx_id.startswith("0x")
    assert first[-1].attempts == 1
    second = redeemer.step([candidate()], 2_000)
    assert [r.state for r in second] == [State.REDEEMED]
    assert exchange.balance(OWNER) == pytest.approx(110.0)  # 10 winning shares at $1, losers 0
    assert exchange.position(OWNER, UP) == 0
    assert exchange.position(OWNER, DOWN) == 0
    assert redeemer.step([], 3_000) == []  # nothing more to do, nothing sent again
    assert len(chain.transactions) == 1


def test_a_fifty_fifty_market_pays_half_a_dollar_a_share(exchange: Exchange, chain: ChainServer) -> None:
    exchange.resolve(CONDITION, None)
    redeemer = Redeemer(EoaSender(chain.url, KEY))
    redeemer.step([candidate()], 1_000)
    redeemer.step([candidate()], 2_000)
    assert exchange.balance(OWNER) == pytest.approx(106.5)


def test_a_pending_transaction_is_looked_up_not_sent_again_after_a_restart(
    exchange: Exchange, chain: ChainServer, tmp_path
) -> None:
    exchange.resolve(CONDITION, UP)
    chain.receipt_after = 2
    journal = Journal(tmp_path / "bot.db")
    redeemer = Redeemer(EoaSender(chain.url, KEY))
    for row in redeemer.step([candidate()], 1_000):
        journal.save_redemption(to_row(row))
    journal.commit()
    journal.close()
    # the bot stops while the transaction is pending; a new one starts from the journal
    journal = Journal(tmp_path / "bot.db")
    known = [from_row(r) for r in journal.redemption_rows()]
    assert [(r.state, r.attempts) for r in known] == [(State.REDEEMING, 1)]
    again = Redeemer(EoaSender(chain.url, KEY), known)
    assert again.step([candidate()], 2_000) == []  # still no receipt
    assert again.step([candidate()], 3_000) == []
    assert [r.state for r in again.step([candidate()], 4_000)] == [State.REDEEMED]
    assert len(chain.transactions) == 1
    journal.close()


def test_an_unresolved_market_fails_with_the_nodes_reason_and_is_retried_later(
    exchange: Exchange, chain: ChainServer
) -> None:
    redeemer = Redeemer(EoaSender(chain.url, KEY))
    rows = redeemer.step([candidate()], 1_000)
    failed = rows[-1]
    assert failed.state is State.FAILED
    assert "condition not resolved" in failed.reason
    assert failed.next_try_ms == 61_000
    assert failed.attempts == 1
    assert redeemer.step([candidate()], 30_000) == []  # not before its time
    exchange.resolve(CONDITION, UP)
    redeemer.step([candidate()], 61_000)
    assert [r.state for r in redeemer.step([candidate()], 62_000)] == [State.REDEEMED]


def test_a_reverted_transaction_is_failed_then_sent_again(exchange: Exchange, chain: ChainServer) -> None:
    exchange.resolve(CONDITION, UP)
    chain.revert_next()
    redeemer = Redeemer(EoaSender(chain.url, KEY))
    redeemer.step([candidate()], 1_000)
    failed = redeemer.step([candidate()], 2_000)[-1]
    assert failed.state is State.FAILED
    assert "reverted" in failed.reason
    assert exchange.position(OWNER, UP) == 10  # nothing moved
    redeemer.step([candidate()], 2_000 + 60_000)
    assert redeemer.step([candidate()], 63_000)[-1].state is State.REDEEMED
    assert [t.status for t in chain.transactions] == [0, 1]


def test_a_dead_node_sends_nothing_and_says_so(exchange: Exchange, chain: ChainServer) -> None:
    exchange.resolve(CONDITION, UP)
    chain.down = True
    redeemer = Redeemer(EoaSender(chain.url, KEY))
    row = redeemer.step([candidate()], 1_000)[-1]
    assert row.state is State.REDEEMABLE
    assert "Polygon RPC" in row.reason
    assert row.attempts == 0
    assert chain.transactions == []


def test_tokens_redeemed_elsewhere_mark_the_market_redeemed(exchange: Exchange, chain: ChainServer) -> None:
    redeemer = Redeemer(EoaSender(chain.url, KEY))
    redeemer.step([candidate()], 1_000)  # unresolved: FAILED, retry later
    assert redeemer.step([], 2_000)[-1].state is State.REDEEMED  # the wallet no longer holds them


# -- proxy and Safe wallets: the gasless relayer -------------------------------------------


BUILDER = ("builder-key", "YnVpbGRlci1zZWNyZXQtMDAwMDAwMDAwMDAwMDAwMDAwMA==", "builder-pass")


def test_a_safe_wallet_redeems_through_the_relayer(exchange: Exchange) -> None:
    from eth_account import Account

    from bot.redemption.senders import RelayerSender

    wallets: list[str] = []

    def owner_of(wallet: str) -> str:
        wallets.append(wallet)
        return OWNER

    exchange.resolve(CONDITION, UP)
    with ChainServer(exchange, owner_of=owner_of, receipt_after=1) as chain:
        redeemer = Redeemer(RelayerSender(chain.url, KEY, 137, safe=True, builder=BUILDER))
        sent = redeemer.step([candidate()], 1_000)[-1]
        assert sent.state is State.REDEEMING
        assert sent.sender == "RELAYER"
        assert redeemer.step([candidate()], 2_000) == []  # STATE_NEW
        assert redeemer.step([candidate()], 3_000)[-1].state is State.REDEEMED
        assert exchange.balance(OWNER) == pytest.approx(110.0)
        # the redeem ran for the Safe the key owns, not for the key's own address
        assert len(wallets) == 1
        assert wallets[0] != Account.from_key(KEY).address.lower()


def test_the_relayer_refusing_is_a_failure_with_its_words(exchange: Exchange) -> None:
    from bot.redemption.senders import RelayerSender

    exchange.resolve(CONDITION, UP)
    with ChainServer(exchange, owner_of=lambda wallet: OWNER) as chain:
        chain.refuse_next("quota exceeded")
        redeemer = Redeemer(RelayerSender(chain.url, KEY, 137, safe=True, builder=BUILDER))
        failed = redeemer.step([candidate()], 1_000)[-1]
        assert failed.state is State.FAILED
        assert "quota exceeded" in failed.reason


def test_a_wallet_that_cannot_redeem_is_told_what_to_set() -> None:
    from bot.config import ConfigError, PolymarketConfig
    from bot.redemption.senders import sender_for

    with pytest.raises(ConfigError, match="POLYMARKET_BUILDER_API_KEY, POLYMARKET_BUILDER_SECRET not set"):
        sender_for(PolymarketConfig(signature_type=1), KEY, {"POLYMARKET_BUILDER_PASSPHRASE": "x"})
    with pytest.raises(ConfigError, match="rpc_url is not set"):
        sender_for(PolymarketConfig(signature_type=0), KEY, {})


def test_a_market_past_the_first_page_of_the_listing_is_redeemed(
    exchange: Exchange, chain: ChainServer
) -> None:
    """The node looks the condition up by id: an exchange with more markets than one page of
    its listing (a day of rolling windows) still redeems the last one."""
    for n in range(exchange.page_size + 20):
        exchange.add_market("0x" + f"{n:064x}", (f"9{n}1", f"9{n}2"))
    late = "0x" + f"{exchange.page_size + 10:064x}"
    exchange.set_position(OWNER, f"9{exchange.page_size + 10}1", 4)
    exchange.resolve(late, f"9{exchange.page_size + 10}1")
    redeemer = Redeemer(EoaSender(chain.url, KEY))
    late_candidate = Candidate(late, neg_risk=False, payout_micros=4_000_000)
    redeemer.step([late_candidate], 1_000)
    assert [r.state for r in redeemer.step([late_candidate], 2_000)] == [State.REDEEMED]
    assert exchange.position(OWNER, f"9{exchange.page_size + 10}1") == 0
