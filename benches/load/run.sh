#!/usr/bin/env bash
# Load benchmark: builds the release binary, starts it on loopback with a throwaway
# configuration, drives it with wrk and prints requests/s, p50/p99 latency and error counts
# per scenario, the ratios the project targets, and the server's memory.
#
#   benches/load/run.sh                 # 10 s per scenario, 32 connections
#   DURATION=5 CONNECTIONS=64 benches/load/run.sh
#
# Everything runs on 127.0.0.1 and stops by itself. Server and wrk share the machine's
# cores, so compare ratios within one run, not absolute numbers across machines.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
duration="${DURATION:-10}"
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
run() {  # name path lua-file-or-empty
  local name="$1" path="$2" script="${3:-}" out="$work/$1.out"
  local args=(-t1 -c"$connections" -d"${duration}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" "$base$path" > "$out"
  python3 - "$name" "$out" >> "$results" <<'PY'
import re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
def lat(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", text, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1, "s": 1000}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: (.*)", text)
print(f"{name}\t{rps:.0f}\t{lat(50):.2f}\t{lat(99):.2f}\t{total}\t{non2xx.group(1) if non2xx else 0}\t{sock.group(1).strip() if sock else '-'}")
PY
}

form="grant_type=client_credentials&client_id=plain&client_secret=$secret"
basic="$(printf 'plain:%s' "$secret" | base64 -w0)"
start
fetch_tokens
player='{"firstName":"Lionel","lastName":"Messi","squadNumber":10,"position":"Right Winger","team":"Inter Miami CF"}'
echo -e "scenario\treq/s\tp50 ms\tp99 ms\trequests\tnon-2xx\tsocket errors" > "$results"
run health /health
run grant_post /auth/token "$(lua POST /auth/token "$form" 'Content-Type: application/x-www-form-urlencoded')"
run grant_basic /auth/token "$(lua POST /auth/token grant_type=client_credentials 'Content-Type: application/x-www-form-urlencoded' "Authorization: Basic $basic")"
run grant_hashed /auth/token "$(lua POST /auth/token "grant_type=client_credentials&client_id=hashed&client_secret=$hashed_secret" 'Content-Type: application/x-www-form-urlencoded')"
run bad_token_delete /players/squadnumber/10 "$(lua DELETE /players/squadnumber/10 '' "Authorization: Bearer $bad_token")"
run put_normal /players/squadnumber/10 "$(lua PUT /players/squadnumber/10 "$player" 'Content-Type: application/json' "Authorization: Bearer $token")"
run get_player /players/squadnumber/10
rss_after_scenarios="$(rss_kib VmRSS)"

# Memory: keep granting until GRANTS_FOR_MEMORY tokens were issued; RSS after each round.
memory="$work/memory.txt"
grant_script="$(lua POST /auth/token "$form" 'Content-Type: application/x-www-form-urlencoded')"
issued=0
while [ "$issued" -lt "$grants_for_memory" ]; do
  n="$(wrk -t1 -c"$connections" -d5s -s "$grant_script" "$base/auth/token" | awk '/requests in/ {print $1}')"
  issued=$((issued + n))
  echo "$issued $(rss_kib VmRSS)" >> "$memory"
done
peak="$(rss_kib VmHWM)"
stop

start env APP_DATABASE__SYNCHRONOUS=full
run put_full /players/squadnumber/10 "$(lua PUT /players/squadnumber/10 "$player" 'Content-Type: application/json' "Authorization: Bearer $token")"
stop

echo
column -t -s $'\t' "$results"
python3 - "$results" "$memory" "$peak" "$rss_after_scenarios" <<'PY'
import sys
rows = {l.split("\t")[0]: float(l.split("\t")[1]) for l in open(sys.argv[1]).read().splitlines()[1:]}
def ratio(a, b, target):
    r = rows[a] / rows[b]
    print(f"  {a} / {b} = {r:.2f} (target >= {target}) {'ok' if r >= target else 'MISSED'}")
print("\nratios:")
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
