#!/usr/bin/env bash
# Load benchmark: builds the release binary, starts it on loopback with a throwaway
# configuration, drives it with wrk and prints requests/s, p50/p99 latency and error counts
# per scenario, the ratios the project targets, and the server's memory.
#
#   benches/load/run.sh                 # 10 rounds of 1 s per scenario, 32 connections
#   ROUNDS=3 DURATION=5 CONNECTIONS=64 benches/load/run.sh
#
# Scenarios are interleaved: each round runs every scenario once, for DURATION seconds, and
# a ratio is taken within each round, between scenarios measured seconds apart; the
# figures printed are medians over the rounds. On a shared VM the machine's speed drifts
# by 15 % and more over a minute, which ratios between scenarios run minutes apart would
# report as differences between the scenarios. A second server, with
# database.synchronous = "full", serves the PUT_full scenario in the same rounds.
#
# Everything runs on 127.0.0.1 and stops by itself. Server and wrk share the machine's
# cores, so compare ratios within one run, not absolute numbers across machines.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
duration="${DURATION:-1}"
rounds="${ROUNDS:-10}"
connections="${CONNECTIONS:-32}"
grants_for_memory="${GRANTS_FOR_MEMORY:-1000000}"

# shellcheck source=benches/load/common.sh
source "$root/benches/load/common.sh"
install_package wrk

lua() {  # method path body [header...]
  local file="$work/$RANDOM.lua" method="$1" body="$3"; shift 3
  { echo "wrk.method = \"$method\""
    echo "wrk.body = [[$body]]"
    for h in "$@"; do echo "wrk.headers[\"${h%%:*}\"] = \"${h#*: }\""; done
  } > "$file"
  echo "$file"
}

results="$work/results.tsv"
measure() {  # round name url lua-file-or-empty
  local round="$1" name="$2" url="$3" script="${4:-}" out="$work/$2.out"
  local args=(-t1 -c"$connections" -d"${duration}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" "$url" > "$out"
  [ "$round" = warmup ] && return
  python3 - "$round" "$name" "$out" >> "$results" <<'PY'
import re, sys
round_, name, text = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
def lat(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", text, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: (.*)", text)
print(f"{round_}\t{name}\t{rps:.0f}\t{lat(50):.2f}\t{lat(99):.2f}\t{total}\t{non2xx.group(1) if non2xx else 0}\t{sock.group(1).strip() if sock else '-'}")
PY
}

form="grant_type=client_credentials&client_id=plain&client_secret=$secret"
basic="$(printf 'plain:%s' "$secret" | base64 -w0)"
start "$work/config.toml" "$port"
main_server="$server"
fetch_tokens
# The same configuration with full durability, on its own port and database.
full_port="$(free_port)"
sed -e "s/^port = .*/port = $full_port/" -e "s|players.db|players-full.db|" "$work/config.toml" > "$work/config-full.toml"
printf '[default.database]\nsynchronous = "full"\n' >> "$work/config-full.toml"
start "$work/config-full.toml" "$full_port"
full_server="$server"
full_base="http://127.0.0.1:$full_port"

player='{"firstName":"Lionel","lastName":"Messi","squadNumber":10,"position":"Right Winger","team":"Inter Miami CF"}'
put_script="$(lua PUT /players/squadnumber/10 "$player" 'Content-Type: application/json' "Authorization: Bearer $token")"
scenarios=(  # name url lua-file-or-empty
  "health|$base/health|"
  "grant_post|$base/auth/token|$(lua POST /auth/token "$form" 'Content-Type: application/x-www-form-urlencoded')"
  "grant_basic|$base/auth/token|$(lua POST /auth/token grant_type=client_credentials 'Content-Type: application/x-www-form-urlencoded' "Authorization: Basic $basic")"
  "grant_hashed|$base/auth/token|$(lua POST /auth/token "grant_type=client_credentials&client_id=hashed&client_secret=$hashed_secret" 'Content-Type: application/x-www-form-urlencoded')"
  "bad_token_delete|$base/players/squadnumber/10|$(lua DELETE /players/squadnumber/10 '' "Authorization: Bearer $bad_token")"
  "put_normal|$base/players/squadnumber/10|$put_script"
  "get_player|$base/players/squadnumber/10|"
  "put_full|$full_base/players/squadnumber/10|$put_script"
)
for round in warmup $(seq 1 "$rounds"); do
  for scenario in "${scenarios[@]}"; do
    IFS='|' read -r name url script <<<"$scenario"
    measure "$round" "$name" "$url" "$script"
  done
done
stop "$full_server"
server="$main_server"
rss_after_scenarios="$(rss_kib "$server" VmRSS)"

# Memory: keep granting until GRANTS_FOR_MEMORY tokens were issued; RSS after each round.
memory="$work/memory.txt"
grant_script="$(lua POST /auth/token "$form" 'Content-Type: application/x-www-form-urlencoded')"
issued=0
while [ "$issued" -lt "$grants_for_memory" ]; do
  n="$(wrk -t1 -c"$connections" -d5s -s "$grant_script" "$base/auth/token" | awk '/requests in/ {print $1}')"
  issued=$((issued + n))
  echo "$issued $(rss_kib "$server" VmRSS)" >> "$memory"
done
peak="$(rss_kib "$server" VmHWM)"
stop "$server"

echo
python3 - "$results" "$memory" "$peak" "$rss_after_scenarios" "$rounds" "$duration" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
rounds = {}
for r, name, rps, p50, p99, total, non2xx, sock in rows:
    rounds.setdefault(name, []).append((int(r), float(rps), float(p50), float(p99), int(total), int(non2xx), sock))
print(f"{sys.argv[5]} rounds x {sys.argv[6]} s per scenario; req/s and p50 are medians over the rounds, p99 the worst round")
print(f"{'scenario':<18}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'requests':>10}{'non-2xx':>9}  socket errors")
for name, rs in rounds.items():
    errors = sorted({s for *_, s in rs if s != "-"}) or ["-"]
    print(f"{name:<18}{statistics.median(r[1] for r in rs):>8.0f}{statistics.median(r[2] for r in rs):>8.2f}"
          f"{max(r[3] for r in rs):>8.2f}{sum(r[4] for r in rs):>10}{sum(r[5] for r in rs):>9}  {'; '.join(errors)}")
def ratio(a, b, target):
    per_round = [x[1] / y[1] for x, y in zip(rounds[a], rounds[b])]
    r = statistics.median(per_round)
    spread = ", ".join(f"{x:.2f}" for x in per_round)
    print(f"  {a} / {b} = {r:.2f} (target >= {target}) {'ok' if r >= target else 'MISSED'}   rounds: {spread}")
print("\nratios (median of the per-round ratios):")
ratio("grant_post", "health", 0.7)
ratio("grant_basic", "health", 0.7)
ratio("grant_hashed", "grant_post", 0.9)
ratio("bad_token_delete", "health", 0.9)
ratio("put_normal", "get_player", 0.5)
ratio("put_full", "get_player", 0.5)
print("\nmemory (tokens issued, RSS MiB):")
for line in open(sys.argv[2]):
    n, kib = line.split()
    print(f"  {int(n):>9,}  {int(kib) / 1024:6.1f}")
print(f"  RSS after the scenarios: {int(sys.argv[4]) / 1024:.1f} MiB; peak RSS (VmHWM): {int(sys.argv[3]) / 1024:.1f} MiB (target <= 64)")
PY
