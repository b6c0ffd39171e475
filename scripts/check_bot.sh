#!/usr/bin/env bash
# One-screen summary of a touchtrader bot, from its state files, with jq.
#
#   scripts/check_bot.sh [HOME]      HOME defaults to $TOUCHTRADER_HOME, else the current folder
#
# Exit codes: 0 alive, 1 dead or stale, 2 no state files or jq missing.
set -uo pipefail

home="${1:-${TOUCHTRADER_HOME:-.}}"
state="$home/state"
command -v jq >/dev/null || { echo "check_bot: jq is not installed (apt-get install jq)" >&2; exit 2; }
[ -r "$state/status.json" ] || { echo "check_bot: no $state/status.json (has the bot run in $home?)" >&2; exit 2; }

# Figures as `bot status` prints them (bot/figures.py): money exact with at least two
# decimals ($12.30, $4.9961, -$0.25), prices and shares exact (0.53, 12.5), a win rate to one
# decimal, rounded half up in integers (66.7%).
defs='
def micros: . * 1000000 | round;
def digits: (. % 1000000 + 1000000 | tostring | .[1:] | sub("0+$"; ""));
def whole: ((. - (. % 1000000)) / 1000000 | tostring);
def usd: micros as $m | ($m | if . < 0 then -. else . end) as $a
  | ($a | digits) as $f
  | (if $m < 0 then "-" else "" end) + "$" + ($a | whole) + "." + (if ($f | length) < 2 then ($f + "00")[:2] else $f end);
def num: micros as $m | ($m | if . < 0 then -. else . end) as $a | ($a | digits) as $f
  | (if $m < 0 then "-" else "" end) + ($a | whole) + (if $f == "" then "" else "." + $f end);
def pct($part; $whole): if $whole <= 0 then "n/a"
  else (($part * 2000 + $whole) / (2 * $whole) | floor) as $t
  | "\(($t - ($t % 10)) / 10).\($t % 10)%" end;
'

now=$(date -u +%s)
# ALIVE / STALE / DEAD: is_alive false, pid gone, or next_update more than a heartbeat ago.
read -r alive pid next beat < <(jq -r '[.is_alive, .pid, (.next_update // "none"), (.heartbeat_s // 5)] | @tsv' "$state/status.json")
liveness=ALIVE
why="pid $pid"
if [ "$alive" != "true" ]; then
  liveness=DEAD; why="stopped: $(jq -r '.reason // "no reason recorded"' "$state/status.json")"
elif ! kill -0 "$pid" 2>/dev/null; then
  liveness=DEAD; why="process $pid is gone without writing a final state"
else
  due=$(date -u -d "$next" +%s 2>/dev/null || echo 0)
  late=$(( now - due ))
  if [ "$late" -gt "${beat%.*}" ]; then liveness=STALE; why="no heartbeat for $(( late + ${beat%.*} )) s"; fi
fi

echo "== touchtrader: $liveness ($why)"
jq -r "$defs"'"   mode \(.mode), state \(.trading_state)\(if .reason then " (" + .reason + ")" else "" end)",
       "   updated \(.timestamp), market time \(.market_time)",
       "== account: balance \(.account.balance | usd), today P&L \(.account.daily_pnl | usd) (open positions marked), \(.account.open_positions) open positions, \(.account.daily_trades) trades today",
       "== can trade: \(if .risk.can_trade then "yes" else "NO (" + (.risk.reason // "stopped") + ")" end); consecutive losses \(.risk.consecutive_losses); emergency stop \(.risk.emergency_stop)"' \
   "$state/status.json"
if [ -r "$state/trading_state.json" ]; then
  jq -r "$defs"'"== orders: \(.stats.total_open_orders) open, \(.stats.total_locked_in_orders | usd) locked; available \(.stats.available_balance | usd); deployed \(.stats.total_capital_deployed | usd)",
         "== positions: \(.stats.total_active_positions)",
         (.active_positions[:10][] | "   \(.market_name)  \(.side) \(.shares | num) @ \(.entry_price | num) now \(.current_price | num)  P&L \(.pnl | usd) (\(.pnl_percent | num)%)"),
         (if (.controls.in_effect | length) > 0 then "== controls in effect: \(.controls.in_effect | join(", "))" else empty end),
         (if .controls.last then "   last control: \(.controls.last.control) \(.controls.last.result) at \(.controls.last.time): \(.controls.last.reason)" else empty end)' \
     "$state/trading_state.json"
fi
if [ -r "$state/trades_today.json" ]; then
  jq -r "$defs"'.summary | "== today: \(.total_trades) trades (\(.open_trades) open), closed P&L \(.total_pnl | usd), win rate \(pct(.wins; .closed_trades))"' \
     "$state/trades_today.json"
fi
jq -r 'if (.errors | length) > 0 then "== recent errors:", (.errors[] | "   \(.timestamp) \(.details)") else "== no recent errors" end' "$state/status.json"

[ "$liveness" = ALIVE ]
