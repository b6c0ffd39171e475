"""Data as it comes (issue 13): rows per token, outcome forms, every reason of a bad row,
ticks per market and fees (bot.feeds.formats)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.feeds.formats import DataError, LoadedData, load
from bot.model import ONE, BookTick, Market, Outcome, WindowOpened, WindowResolved

T0_S = 1_785_881_100  # 2026-08-04T22:05:00Z
T0 = T0_S * 1000
END_S = T0_S + 300
END = END_S * 1000
UP_TOKEN = "48415929365837409847283902738236482367489234823648723648723648723642376472364"
DOWN_TOKEN = "14947618629783640986432709864327098643270986432709864327098643270986432709864"
CONDITION = "0x5bed2aa5" + "0" * 56
TOKEN_HEADER = (
    "timestamp,market_id,token_id,token_outcome,best_bid,best_ask,bid_size,ask_size,window_end,outcome\n"
)
CRYPTO = "0.07 x shares x (p(1-p))^1 (Polymarket crypto schedule (default without metadata))"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def ticks(data: LoadedData) -> list[BookTick]:
    return [e for e in data.events if type(e) is BookTick]


def opened(data: LoadedData) -> list[Market]:
    return [e.market for e in data.events if type(e) is WindowOpened]


def resolved(data: LoadedData) -> list[WindowResolved]:
    return [e for e in data.events if type(e) is WindowResolved]


def token_rows(up_outcome: str = "", down_outcome: str = "") -> str:
    """Market m: the UP token at 0.55/0.57, the DOWN token's book its mirror (0.43/0.45)."""
    return TOKEN_HEADER + (
        f"{T0_S},m,u1,Up,0.55,0.57,10,20,{END_S},{up_outcome}\n"
        f"{T0_S},m,d1,Down,0.43,0.45,30,40,{END_S},{down_outcome}\n"
        f"{T0_S + 5},m,d1,Down,0.44,0.46,30,40,{END_S},{down_outcome}\n"
    )


def test_rows_per_token_load_as_one_market_with_both_tokens(tmp_path: Path) -> None:
    data = load(write(tmp_path / "t.csv", token_rows("1", "0")))
    (market,) = opened(data)
    assert (market.market_id, market.token_ids) == ("m", ("u1", "d1"))
    # at T0 both books say 0.55/0.57: sizes add up; at T0+5 the DOWN book alone moved the UP
    # view: 1 - 0.46 = 0.54 bid, 1 - 0.44 = 0.56 ask, and the older UP book is worse on both
    assert ticks(data) == [
        BookTick(T0, "m", 550_000, 10 * ONE + 40 * ONE, 570_000, 20 * ONE + 30 * ONE),
        BookTick(T0 + 5000, "m", 550_000, 10 * ONE, 560_000, 30 * ONE),
    ]
    assert resolved(data) == [WindowResolved(END, "m", Outcome.UP)]
    assert data.report.markets == ["m"]
    assert (data.report.rows_read, data.report.rows_used, data.report.books_disagree) == (3, 3, 0)


def test_rows_per_token_file_grouped_by_token_not_time(tmp_path: Path) -> None:
    rows = token_rows().splitlines(keepends=True)
    data = load(write(tmp_path / "t.csv", rows[0] + rows[2] + rows[3] + rows[1]))
    assert [t.ts_ms for t in ticks(data)] == [T0, T0 + 5000]
    assert data.report.malformed_total == 0


def test_books_that_disagree_are_counted_and_said(tmp_path: Path) -> None:
    text = TOKEN_HEADER + (
        f"{T0_S},m,u1,Up,0.55,0.57,10,20,{END_S},\n"
        f"{T0_S + 1},m,d1,Down,0.30,0.40,30,40,{END_S},\n"  # asks 0.57 + 0.40 < 1: crossed
    )
    data = load(write(tmp_path / "t.csv", text))
    assert data.report.books_disagree == 1
    assert ticks(data)[1] == BookTick(T0 + 1000, "m", 600_000, 40 * ONE, 700_000, 30 * ONE)
    assert "1 row(s) where the two tokens' books disagree" in data.report.summary()


@pytest.mark.parametrize(
    ("up", "down", "winner"),
    [
        ("UP", "UP", Outcome.UP),
        ("Down", "Down", Outcome.DOWN),
        ("yes", "", Outcome.UP),
        ("No", "No", Outcome.DOWN),
        ("1", "0", Outcome.UP),
        ("0", "", Outcome.DOWN),
        ("", "1", Outcome.DOWN),
        ("true", "false", Outcome.UP),
        ("FALSE", "TRUE", Outcome.DOWN),
        ("d1", "d1", Outcome.DOWN),
        ("u1", "", Outcome.UP),
        ("", "", None),
    ],
)
def test_outcome_forms_per_token(tmp_path: Path, up: str, down: str, winner: Outcome | None) -> None:
    data = load(write(tmp_path / "t.csv", token_rows(up, down)))
    assert [r.outcome for r in resolved(data)] == ([winner] if winner else [])


def test_outcome_as_each_tokens_side_is_an_error_naming_the_column(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load(write(tmp_path / "t.csv", token_rows("Up", "Down")))
    text = str(info.value)
    assert "\n" not in text
    assert str(tmp_path / "t.csv") in text
    assert "column outcome: 'Up' on the UP token and 'Down' on the DOWN token of market m" in text
    assert "expected UP/DOWN (or Up/Down, Yes/No) (the winner), 1/0 or true/false" in text


def test_outcome_of_no_known_form_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"\.csv:2:[0-9]+: column outcome: 'maybe' on token u1 of market m"):
        load(write(tmp_path / "t.csv", token_rows("maybe", "")))


def test_flags_in_rows_per_market_are_ambiguous(tmp_path: Path) -> None:
    text = "timestamp,market_id,best_bid,best_ask,window_end,result\n" + f"{T0_S},m,0.5,0.6,{END_S},1\n"
    with pytest.raises(DataError) as info:
        load(write(tmp_path / "m.csv", text), columns={"outcome": "result"})
    message = str(info.value)
    assert "m.csv:2:6: column result: '1' says whether a token won" in message
    assert "expected UP/DOWN (or Up/Down, Yes/No)" in message


def test_yes_no_in_rows_per_market(tmp_path: Path) -> None:
    text = "timestamp,market_id,best_bid,best_ask,window_end,outcome\n" + f"{T0_S},m,0.5,0.6,{END_S},No\n"
    assert [r.outcome for r in resolved(load(write(tmp_path / "m.csv", text)))] == [Outcome.DOWN]


def test_rows_per_token_need_to_know_which_token_is_up(tmp_path: Path) -> None:
    text = "timestamp,market_id,token_id,best_bid,best_ask,window_end\n" + f"{T0_S},m,u1,0.5,0.6,{END_S}\n"
    with pytest.raises(DataError, match="nothing says which token is UP: expected a column 'token_outcome'"):
        load(write(tmp_path / "t.csv", text))


def test_two_up_tokens_in_one_market_is_an_error(tmp_path: Path) -> None:
    text = TOKEN_HEADER + f"{T0_S},m,u1,Up,0.5,0.6,1,1,{END_S},\n{T0_S},m,u2,Yes,0.5,0.6,1,1,{END_S},\n"
    with pytest.raises(DataError, match="tokens u1 and u2 are both UP in market m"):
        load(write(tmp_path / "t.csv", text))


def gamma_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "question": "Bitcoin Up or Down - August 4, 6:05PM-6:10PM ET",
        "conditionId": CONDITION,
        "slug": "btc-updown-5m-1785881100",
        "endDate": "2026-08-04T22:10:00Z",
        "eventStartTime": "2026-08-04T22:05:00Z",
        "outcomes": '["Down", "Up"]',  # mapped by name, not by position
        "clobTokenIds": json.dumps([DOWN_TOKEN, UP_TOKEN]),
        "outcomePrices": '["1", "0"]',
        "closed": True,
        "umaResolutionStatus": "resolved",
        "orderPriceMinTickSize": 0.01,
        "orderMinSize": 5,
        "acceptingOrders": False,
        "feesEnabled": True,
        "feeSchedule": {"exponent": 1, "rate": 0.05, "takerOnly": True},
        "cryptoMarketConfig": {"asset": "btc", "duration": "5m"},
    }
    row.update(changes)
    return row


def test_gamma_metadata_gives_markets_sides_fees_tick_and_result(tmp_path: Path) -> None:
    write(tmp_path / "gamma.json", json.dumps([{"slug": "e", "markets": [gamma_row()]}]))
    text = "timestamp,asset_id,best_bid,best_ask\n" + (
        f"{T0_S},{UP_TOKEN},0.550,0.570\n"
        f"{T0_S + 1},{DOWN_TOKEN},0.430,0.440\n"
        f"{T0_S + 2},{UP_TOKEN},0.985,0.986\n"  # 0.001 near the edge: the tick goes finer
        f"{T0_S + 2},unknown,0.5,0.6\n"
        f"{END_S},{UP_TOKEN},0.5,0.6\n"  # at the window end (from the metadata): not used
    )
    data = load(write(tmp_path / "b.csv", text), columns={"token_id": "asset_id"}, metadata="gamma.json")
    (market,) = opened(data)
    assert market == Market(
        CONDITION,
        "BTC",
        "Bitcoin Up or Down - August 4, 6:05PM-6:10PM ET",
        T0,
        END,
        tick=1_000,
        min_size=5 * ONE,
        fee_rate_ppm=50_000,
        fee_exponent=1,
        token_ids=(UP_TOKEN, DOWN_TOKEN),
    )
    assert resolved(data) == [WindowResolved(END, CONDITION, Outcome.DOWN)]
    assert [(t.bid, t.ask) for t in ticks(data)] == [
        (550_000, 570_000),
        (560_000, 570_000),
        (985_000, 986_000),
    ]
    report = data.report
    assert report.ignored == {"row of a token the metadata does not know": 1, "row at or after window end": 1}
    assert report.fees == {"0.05 x shares x (p(1-p))^1 (metadata feeSchedule)": 1}
    assert report.ticks == {"0.001": 1}


def test_plain_token_map_metadata(tmp_path: Path) -> None:
    meta = {
        "u1": {"market": "m", "outcome": "Yes"},
        "d1": {"market": "m", "outcome": "No", "window_end": END_S},
    }
    write(tmp_path / "meta.json", json.dumps(meta))
    text = "timestamp,token_id,best_bid,best_ask,outcome\n" + f"{T0_S},u1,0.5,0.6,0\n{T0_S},d1,0.4,0.5,1\n"
    data = load(write(tmp_path / "t.csv", text), metadata=str(tmp_path / "meta.json"))
    assert [m.market_id for m in opened(data)] == ["m"]
    assert [r.outcome for r in resolved(data)] == [Outcome.DOWN]


def test_bad_metadata_is_one_line_naming_the_file_and_row(tmp_path: Path) -> None:
    write(tmp_path / "gamma.json", json.dumps([gamma_row(), gamma_row(orderMinSize="lots")]))
    csv = write(tmp_path / "t.csv", "timestamp,token_id,best_bid,best_ask\n" + f"{T0_S},{UP_TOKEN},0.5,0.6\n")
    with pytest.raises(DataError) as info:
        load(csv, metadata="gamma.json")
    assert str(info.value).startswith(f"{tmp_path / 'gamma.json'}: cannot parse [1].orderMinSize")
    with pytest.raises(DataError, match=r"nope\.json: no such file; expected a Gamma export"):
        load(csv, metadata="nope.json")


def test_a_bad_row_reports_every_reason(tmp_path: Path) -> None:
    text = "timestamp,market_id,best_bid,best_ask,bid_size,window_end\n" + (
        f"{T0_S},m,0.5,0.6,1,{END_S}\nsoon,m,1.5,abc,-2,{END_S}\n{T0_S + 1},m,0.7,0.6,1,\n"
    )
    data = load(write(tmp_path / "m.csv", text))
    reasons = dict(data.report.malformed)
    assert reasons[3] == (
        "timestamp: 'soon' is not a unix time or an ISO-8601 time; best_bid 1.5 is outside [0, 1];"
        " best_ask 'abc' is not a number; bid_size -2 is negative"
    )
    assert reasons[4] == "crossed book: best_bid 0.7 >= best_ask 0.6; window_end is empty"


def test_ticks_are_inferred_per_market_unless_given(tmp_path: Path) -> None:
    text = "timestamp,market_id,best_bid,best_ask,window_end\n" + (
        f"{T0_S},a,0.50,0.52,{END_S}\n{T0_S},b,0.96,0.97,{END_S}\n{T0_S + 1},b,0.971,0.972,{END_S}\n"
    )
    path = write(tmp_path / "m.csv", text)
    data = load(path)
    assert [(m.market_id, m.tick) for m in opened(data)] == [("a", 10_000), ("b", 1_000)]
    assert data.report.ticks == {"0.01": 1, "0.001": 1}
    strict = load(path, tick="0.01")
    assert strict.report.malformed == [
        (4, "best_bid 0.971 is not on the tick 0.01; best_ask 0.972 is not on the tick 0.01")
    ]


def test_fees_default_to_the_crypto_schedule_and_zero_only_when_asked(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.csv",
        "timestamp,market_id,best_bid,best_ask,window_end\n" + f"{T0_S},a,0.5,0.6,{END_S}\n",
    )
    data = load(path)
    assert (opened(data)[0].fee_rate_ppm, opened(data)[0].fee_exponent) == (70_000, 1)
    assert data.report.fees == {CRYPTO: 1}
    assert f"fees {CRYPTO} (1 market(s))" in data.report.summary()
    zero = load(path, fee_rate_ppm=0)
    assert opened(zero)[0].fee_rate_ppm == 0
    assert zero.report.fees == {"none (option fee_rate_ppm)": 1}


@pytest.mark.parametrize(("up", "down"), [("0.5", "0.5"), ("50-50", "0.5"), ("SPLIT", "split")])
def test_half_on_both_tokens_resolves_fifty_fifty(tmp_path: Path, up: str, down: str) -> None:
    data = load(write(tmp_path / "t.csv", token_rows(up, down)))
    assert [r.outcome for r in resolved(data)] == [None]


def test_half_on_one_token_only_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"column outcome: '0.5' on token u1 of market m"):
        load(write(tmp_path / "t.csv", token_rows("0.5", "1")))
