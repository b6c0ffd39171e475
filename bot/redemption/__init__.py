"""Redeeming won positions on chain (LIVE).

A resolved market's winning tokens are worth $1 a share, but the collateral is paid only when
they are redeemed: a `redeemPositions` call on Polymarket's collateral adapter, which burns the
wallet's tokens of that market and pays pUSD (bot/redemption/contracts.py). Who sends it
depends on the wallet (bot/redemption/senders.py):

- a plain EOA (`signature_type = 0`) signs and sends the transaction itself through a Polygon
  RPC (`[polymarket] rpc_url`), paying gas in POL;
- proxy and Safe wallets (`signature_type` 1 and 2) hold the tokens in a contract wallet, which
  only the gasless relayer can make call the adapter (a direct call from the EOA pays $0).

The job (bot/redemption/job.py) keeps one row per market in the journal's `redemptions`
table: REDEEMABLE → REDEEMING (a transaction id) → REDEEMED, or FAILED with the reason and a
later retry. It never sends a second transaction while one is pending, so it is idempotent
across restarts. The position itself closes when the wallet no longer holds the tokens
(bot/resolution.py `collect_redeemed`), whoever redeemed them.
"""
