#!/usr/bin/env bash
# What 100,000 live revocations (RFC 7009) cost the requests that never touch them:
# instructions per request, counted by callgrind as in callgrind.sh, for a rejected write
# (a forged token) and a protected write (PUT with a good token), first with no
# revocation held and then with 100,000 rows in `revoked_tokens` (the server loads them at
# start-up, so every write's lookup goes through a set of that size). Also the server's
# resident memory after start-up with none and with 100,000 (issue 16: "no measurable
# drop", and the memory those revocations take).
#
#   benches/load/revocations_callgrind.sh              # 3,000 requests per scenario
#   REQUESTS=1000 benches/load/revocations_callgrind.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
requests="${REQUESTS:-3000}"
warmup="${WARMUP:-500}"
held="${HELD:-100000}"
# shellcheck source=benches/load/common.sh
source "$root/benches/load/common.sh"
install_package valgrind

start "$work/config.toml" "$port"
fetch_tokens
stop "$server"

client="$work/client.py"
cat > "$client" <<'PY'
import http.client, sys
port, count, method, path, expected = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
body = sys.argv[6].encode() if len(sys.argv) > 6 and sys.argv[6] else None
headers = dict(h.split(": ", 1) for h in sys.argv[7:])
connection = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(count):
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    if response.status != expected:
        sys.exit(f"{method} {path}: {response.status}, expected {expected}")
PY

results="$work/results.tsv"
measure() {  # label expected-status method path body [header...]
  local name="$1" expected="$2" method="$3" path="$4" body="$5"; shift 5
  local out="$work/callgrind.$name.out"
  START_TRIES=600 start "$work/config.toml" "$port" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out"
  python3 "$client" "$port" "$warmup" "$method" "$path" "$expected" "$body" "$@"
  callgrind_control --instr=on "$server" >/dev/null 2>&1
  python3 "$client" "$port" "$requests" "$method" "$path" "$expected" "$body" "$@"
  callgrind_control --instr=off "$server" >/dev/null 2>&1
  stop "$server"
  local total
  total="$(awk '/^totals:/ {n = $2} END {print n}' "$out")"
  echo -e "$name\t$((total / requests))" >> "$results"
}
resident() {  # label: VmRSS after start-up, KiB
  start "$work/config.toml" "$port"
  sleep 1
  echo -e "$1\t$(rss_kib "$server" VmRSS)" >> "$work/rss.tsv"
  stop "$server"
}

player='{"firstName":"Lionel","lastName":"Messi","squadNumber":10,"position":"Right Winger","team":"Inter Miami CF"}'
scenarios() {  # suffix
  measure "rejected_$1" 401 DELETE /players/squadnumber/10 '' "Authorization: Bearer $bad_token"
  measure "write_$1" 204 PUT /players/squadnumber/10 "$player" 'Content-Type: application/json' "Authorization: Bearer $token"
  resident "$1"
}

scenarios none
# 100,000 live revocations of other tokens, over 100 clients, made over the last ten
# minutes and lapsing within the hour: the steady state the writes run in. (A burst just
# before start-up is read again by each poll for OVERLAP_MS, 5 s, then no more.)
python3 - "$work/players.db" "$held" <<'PY'
import sqlite3, sys, time, uuid
db, held = sys.argv[1], int(sys.argv[2])
now_ms, now = int(time.time() * 1000), int(time.time())
rows = [(str(uuid.uuid4()), f"client-{i % 100:03}", now + 600 + i % 3000, now_ms - 600_000 + i * 600_000 // held)
        for i in range(held)]
with sqlite3.connect(db) as connection:
    connection.executemany(
        "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at_ms) VALUES (?, ?, ?, ?)", rows)
PY
scenarios held

python3 - "$results" "$work/rss.tsv" "$held" <<'PY'
import sys
counts = dict((n, int(v)) for n, v in (l.split("\t") for l in open(sys.argv[1]).read().splitlines()))
rss = dict((n, int(v)) for n, v in (l.split("\t") for l in open(sys.argv[2]).read().splitlines()))
held = int(sys.argv[3])
print(f"{'request':<12}{'instructions, none held':>26}{f'{held:,} held':>16}{'none / held':>14}")
for kind in ("rejected", "write"):
    none, full = counts[f"{kind}_none"], counts[f"{kind}_held"]
    print(f"{kind:<12}{none:>26,}{full:>16,}{none / full:>14.3f}")
print(f"resident after start-up: {rss['none'] / 1024:.1f} MiB with none, {rss['held'] / 1024:.1f} MiB "
      f"with {held:,} ({(rss['held'] - rss['none']) * 1024 / held:.0f} bytes each)")
PY
