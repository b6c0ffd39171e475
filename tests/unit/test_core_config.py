"""bot.config: defaults, and one-line ConfigErrors that name the key, in-process and via `bot run`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Config, ConfigError, MarketConfig, PaperConfig, RiskConfig, load_config
from bot.model import Mode
from bot.strategies import build_strategies

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


# ---------------------------------------------------------------------------
# defaults and good files


def test_defaults_load_without_a_file() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.mode is Mode.PAPER
    assert config.market == MarketConfig()
    assert config.paper == PaperConfig()
    assert config.risk == RiskConfig()
    assert config.market.instruments == ("BTC", "ETH", "SOL")
    assert len(config.market.start_prices) == len(config.market.instruments)
    assert config.strategies.enabled == ("canary", "edge")


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == Config()


def test_a_good_file_and_overrides_are_applied(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'mode = "paper"\nspeed = 4\n'
        '[market]\nseed = 11\ninstruments = ["BTC"]\nstart_prices = [50000]\nwindow_s = 60\n'
        "[risk]\nmax_open_orders = 3\n"
        "[strategies.params.edge]\nmin_edge = 0.1\n",
    )
    config = load_config(path, {"market.fee_rate": 0.02, "paper.starting_balance": 250})
    assert config.speed == 4.0
    assert isinstance(config.speed, float)
    assert config.market.seed == 11
    assert config.market.instruments == ("BTC",)
    assert config.market.start_prices == (50_000.0,)
    assert config.market.window_s == 60
    assert config.market.fee_rate == 0.02
    assert config.paper.starting_balance == 250.0
    assert config.risk.max_open_orders == 3
    assert config.strategies.params == {"edge": {"min_edge": 0.1}}
    assert config.to_dict()["mode"] == "PAPER"


def test_mode_is_case_insensitive(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, 'mode = "dry-run"')).mode is Mode.DRY_RUN


# ---------------------------------------------------------------------------
# bad inputs: a one-line ConfigError naming the key


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("colour = 1", "colour", "unknown key"),
        ("[market]\ncolour = 1", "market.colour", "unknown key"),
        ("[risk]\nmax_loss = 1", "risk.max_loss", "unknown key"),
        ("[strategies]\nenable = []", "strategies.enable", "unknown key"),
        ("[strategies.params]\nedge = 5", "strategies.params.edge", "expected a table"),
        ("[nonsense]\na = 1", "nonsense", "unknown key"),
        ('speed = "fast"', "speed", "expected a number"),
        ("heartbeat_s = true", "heartbeat_s", "expected a number"),
        ('[market]\nwindow_s = "300"', "market.window_s", "expected a whole number"),
        ("[market]\nwindow_s = 2.5", "market.window_s", "expected a whole number"),
        ("[risk]\nmax_open_orders = true", "risk.max_open_orders", "expected a whole number"),
        ("wallet = 12", "wallet", "expected a string"),
        ('[market]\ninstruments = "BTC"', "market.instruments", "expected a list"),
        ('[market]\nstart_prices = [1.0, "x", 2.0]', "market.start_prices[1]", "expected a number"),
        ("market = 5", "market", "expected a table"),
        ('[caps]\nmax_position_usd = "lots"', "caps.max_position_usd", "expected a number"),
        ("[caps]\nmax_position_usd = 1", "caps.max_position_usd", "below the [risk] value"),
        ("[exits]\nstop_loss_pct = -1", "exits.stop_loss_pct", "must not be negative"),
        ('mode = "casino"', "mode", "is not a mode"),
        ("[market]\nmin_size = -5", "market.min_size", "greater than 0"),
        ("[market]\nmin_size = 0", "market.min_size", "greater than 0"),
        ("[risk]\nmax_position_usd = -1", "risk.max_position_usd", "greater than 0"),
        ("[paper]\nstarting_balance = -100", "paper.starting_balance", "must not be negative"),
        ("[market]\nspread = -0.01", "market.spread", "must not be negative"),
        ("speed = 0", "speed", "greater than 0"),
        ("[market]\ntick = 0.5", "market.tick", "between 0 and 0.5"),
        ("[market]\nfee_rate = 1.5", "market.fee_rate", "at most 1"),
        (
            '[market]\ninstruments = ["BTC", "BTC"]\nstart_prices = [1.0, 2.0]',
            "market.instruments",
            "each once",
        ),
        ("[market]\nstart_prices = [1.0, -2.0, 3.0]", "market.start_prices", "greater than 0"),
        ('[polymarket]\nmarket_feed = "socket"', "polymarket.market_feed", '"rest" or "websocket"'),
        ("[polymarket]\nws_silence_s = 0", "polymarket.ws_silence_s", "greater than 0"),
        ('[polymarket]\nseries = "btc-updown-5m"', "polymarket.series", "expected a list"),
        ('[polymarket]\nseries = ["bitcoin"]', "polymarket.series[0]", "<coin>-updown-<timeframe>"),
        ('[polymarket]\nseries = ["btc-updown-5m", 5]', "polymarket.series[1]", "expected a string"),
        ('[polymarket]\nmarkets = ["0x12"]', "polymarket.markets[0]", "64 hex digits"),
        ('[polymarket]\nmarkets = ["Some Market?"]', "polymarket.markets[0]", "market slug"),
        ('[polymarket]\ngamma_host = "gamma"', "polymarket.gamma_host", "http(s) URL"),
        ("[polymarket]\ndiscovery_lead_s = 0", "polymarket.discovery_lead_s", "greater than 0"),
        ("[polymarket]\ndiscovery_poll_s = -1", "polymarket.discovery_poll_s", "greater than 0"),
    ],
)
def test_bad_input_names_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    message = config_error(tmp_path, text)
    assert message.startswith(f"{key}:"), message
    assert words in message


def test_series_and_explicit_markets_mix(tmp_path: Path) -> None:
    condition = "0x" + "ab" * 32
    config = load_config(
        write(
            tmp_path,
            '[polymarket]\nseries = ["btc-updown-5m", "eth-up-or-down-15m"]\n'
            f'markets = ["{condition}", "12345", "btc-updown-5m-1790000100",'
            ' "https://polymarket.com/event/eth-updown-15m-1790000100"]',
        )
    )
    assert config.polymarket.series == ("btc-updown-5m", "eth-up-or-down-15m")
    assert config.polymarket.markets[:3] == (condition, "12345", "btc-updown-5m-1790000100")
    assert config.polymarket.discovery_lead_s == 60


def test_unknown_key_lists_the_known_keys(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[market]\nsede = 3")
    assert "sede" in message
    assert "seed" in message
    assert "window_s" in message


@pytest.mark.parametrize(
    "text",
    [
        '[market]\ninstruments = ["BTC", "ETH"]',  # three default prices for two names
        "[market]\nstart_prices = [1.0]",
        '[market]\ninstruments = ["BTC"]\nstart_prices = [1.0, 2.0]',
    ],
)
def test_start_prices_length_mismatch(tmp_path: Path, text: str) -> None:
    message = config_error(tmp_path, text)
    assert message.startswith("market.start_prices:")
    assert "market.instruments" in message


UNTERMINATED = 'x = "unterminated'


@pytest.mark.parametrize(
    ("text", "place", "reason"),
    [
        ("speed = ", f"1:{len('speed = ') + 1}", "Invalid value"),  # at the end of the file
        ("speed = = 1", f"1:{len('speed = ') + 1}", "Invalid value"),
        ("[market\nseed = 1", f"1:{len('[market') + 1}", "Expected ']'"),
        ("a = 1\na = 2", f"2:{len('a = 2') + 1}", "Cannot overwrite a value"),
        (UNTERMINATED, f"1:{len(UNTERMINATED) + 1}", "Unterminated string"),  # at the end
        ("# é\n\nspeed = = 1", f"3:{len('speed = ') + 1}", "Invalid value"),
    ],
)
def test_malformed_toml_says_file_line_col(tmp_path: Path, text: str, place: str, reason: str) -> None:
    """The house `FILE:LINE:COL: reason` of every loader (bot/feeds/where.py), on one line."""
    message = config_error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'bot.toml'}:{place}: not valid TOML: {reason}")
    assert "(at " not in message  # tomllib's own place is not repeated


def test_non_utf8_file_is_a_config_error_at_its_byte(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_bytes("# é\n".encode() + b'wallet = "\xff\xfe"\n')  # a 2-byte character before
    with pytest.raises(ConfigError) as info:
        load_config(path)
    col = len('wallet = "') + 1
    assert str(info.value) == f"{path}:2:{col}: not valid TOML: not UTF-8 text (byte 0xff)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "bot.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: config file not found"


def test_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory, not a regular file"):
        load_config(tmp_path)


def test_strategy_params_are_checked_when_strategies_are_built(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[strategies.params.edge]\nmin_egde = 0.1"))
    with pytest.raises(ConfigError, match=r"^strategies\.params\.edge\.min_egde: unknown key"):
        build_strategies(config.strategies.enabled, config.strategies.params)
    config = load_config(write(tmp_path, '[strategies]\nenabled = ["canary"]\n[strategies.params.edge]'))
    with pytest.raises(ConfigError, match=r"^strategies\.params\.edge: strategy 'edge' is not enabled"):
        build_strategies(config.strategies.enabled, config.strategies.params)


def test_bad_override_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^speed: must be greater than 0"):
        load_config(None, {"speed": -2.0})


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "speed = nan",
        "speed = inf",
        "heartbeat_s = inf",
        "[paper]\nstarting_balance = nan",
        "[paper]\nstarting_balance = inf",
        "[market]\nfee_rate = nan",
        "[market]\nvolatility_per_s = inf",
        "[risk]\nmax_position_usd = inf",
        "[market]\nstart_prices = [nan, 3100.0, 140.0]",
    ],
)
def test_non_finite_numbers_are_config_errors(tmp_path: Path, text: str) -> None:
    config_error(tmp_path, text)


# ---------------------------------------------------------------------------
# `bot run` stops with exit code 2 before anything exists or trades


def run_bot(home: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", "--home", str(home), "--config", str(config), "--quiet"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[market]\nwindow_s = -300", "market.window_s"),
        ("[risk]\nmax_open_ordres = 3", "risk.max_open_ordres"),
        ("[strategies.params.canary]\nttl_s = 2.5", "strategies.params.canary.ttl_s"),
    ],
)
def test_cli_run_with_a_bad_config_exits_2_before_creating_state(tmp_path: Path, text: str, key: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bad = write(tmp_path, text)
    result = run_bot(home, bad)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0]
    assert not (home / "state" / "bot.db").exists()  # no journal, so nothing traded
    assert not (home / "logs" / "activity.jsonl").exists()


def test_cli_run_with_a_nan_balance_exits_2_before_creating_state(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = run_bot(home, write(tmp_path, "[paper]\nstarting_balance = nan"))
    assert result.returncode == 2, result.stderr
    assert "paper.starting_balance" in result.stderr
    assert not (home / "state" / "bot.db").exists()
