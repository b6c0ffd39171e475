"""Plain `--help` for every command: nothing lost to markup, nothing cut short.

Typer's rich help ate `[polymarket]` as a markup tag and printed `<bool>` beside every flag;
bot/cli.py turns rich markup off, and this group class tidies what is left, in one place for
every command: value metavars in capitals (DIR, FILE, FLOAT, TEXT), flags without a
`--no-...` twin or a `[default: no-...]`, and the commands list with each command's whole
first sentence (wrapped, not truncated at 45 characters).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

NAMES = {"home": "DIR", "config": "FILE", "out": "DIR", "option": "KEY=VALUE", "sweep": "KEY=V1,V2"}
TYPES = {"Path": "PATH", "float": "FLOAT", "int": "INTEGER", "str": "TEXT", "list[str]": "TEXT"}


def tidy(command: Any) -> Any:
    if getattr(command, "_tidy", False):
        return command
    for param in command.params:
        if isinstance(param, TyperOption) and param.is_flag:
            if not param.default:
                param.secondary_opts = []
                param.show_default = False
        elif isinstance(param, TyperArgument):  # `DATA`, `SETTINGS...`: not `{DATA} <path>`
            label = f"{(param.name or 'arg').upper()}{'...' if param.nargs == -1 else ''}"
            label = label if param.required else f"[{label}]"
            param.metavar = label
            _override(param, "display_type_rich", lambda ctx: None)
            _override(param, "_usage_display_name", lambda label=label: label)
        elif isinstance(param, TyperOption) and param.metavar is None:
            kind = param.bare_type()
            param.metavar = NAMES.get(param.name or "", TYPES.get(kind, kind.upper()))
    command._tidy = True
    return command


def _override(obj: Any, name: str, function: Any) -> None:
    setattr(obj, name, function)  # one instance's method: typer has no option for these


class PlainGroup(TyperGroup):
    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        return None if command is None else tidy(command)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
