"""What the operator commands share: the --home option and its rule, --json, --mode, --timeout.

bot/cli.py (which registers the commands of bot/cli_operator.py) and bot/cli_operator.py
both use these.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

Home = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="TOUCHTRADER_HOME",
        help="The bot's folder (state/, controls/, logs/); default: $TOUCHTRADER_HOME, else the"
        " current folder.",
        show_default=False,
    ),
]
Timeout = Annotated[
    float, typer.Option(help="Seconds to wait for the running bot to acknowledge (exit 4 if it does not).")
]


def existing_home(option: Path | None, command: str) -> Path:
    """An existing bot home, or a one-line error and exit 2 (see bot/home.py)."""
    from bot import home

    try:
        return home.require(home.resolve(option))
    except home.NotAHome as exc:
        typer.echo(f"bot {command}: {exc}", err=True)
        raise typer.Exit(home.EXIT_NOT_A_HOME) from None


Mode = Annotated[str | None, typer.Option(help="Only this mode: paper, dry-run, live (default: all).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (money in *_micros and in USDC).")]


def confirm(home: Path, control: str, timeout: float, act: Callable[[], str], wait: bool = True) -> int:
    """Run `act` (it changes controls/ and says what it did); then, when a bot runs there and
    `wait`, wait for its answer in the journal (bot/ack.py): 0 APPLIED, 2 REJECTED, 4 none.
    With no bot running the file waits for the next start: a note, and 0."""
    from bot.ack import last_control_id, wait_recorded
    from bot.home import running

    bot = running(home)
    after = last_control_id(home)
    typer.echo(act())
    if bot.pid is None:
        typer.echo(f"note: no bot is running in {home} ({bot.why}); the file acts when one starts", err=True)
        return 0
    if not wait:
        return 0
    answer = wait_recorded(home, bot.pid, control, after, timeout)
    typer.echo(answer.message, err=answer.code != 0)
    return answer.code


def wait_for_bot(home: Path, path: Path, timeout: float, wait: Callable[..., Any]) -> int:
    """`bot flatten` / `bot stop` after creating `path`: the exit code of bot/ack.py."""
    from bot.ack import EXIT_NOT_RUNNING
    from bot.home import running

    bot = running(home)
    if bot.pid is None:
        typer.echo(f"created {path}, but no bot is running in {home}: {bot.why}", err=True)
        return EXIT_NOT_RUNNING
    typer.echo(f"created {path}; waiting for the bot (pid {bot.pid}) to acknowledge")
    answer = wait(home, bot.pid, path, timeout)
    typer.echo(answer.message, err=answer.code != 0)
    return int(answer.code)
