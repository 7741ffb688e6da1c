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
#   QUIET=0 benches/load/revocations_callgrind.sh      # revocations made up to the start
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
requests="${REQUESTS:-3000}"
warmup="${WARMUP:-500}"
held="${HELD:-100000}"
# shellcheck source=benches/load/common.sh
source "$root/benches/load/common.sh"
start "$work/config.toml" "$port"
fetch_tokens
stop "$server"

# shellcheck source=benches/load/callgrind_measure.sh
source "$root/benches/load/callgrind_measure.sh"
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
# 100,000 live revocations of other tokens, over 100 clients, made over ten minutes that
# ended $QUIET seconds ago (default 60), lapsing within the hour. Each poll reads again the
# rows of the last OVERLAP_MS (10 s): QUIET=0 measures a server still re-reading a burst of
# 166 revocations a second, the default one past it.
python3 - "$work/players.db" "$held" "${QUIET:-60}" <<'PY'
import sqlite3, sys, time, uuid
db, held, quiet = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now_ms, now = int(time.time() * 1000) - quiet * 1000, int(time.time())
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
# KEEP_DIR=dir keeps callgrind's output files, for callgrind_annotate.
if [ -n "${KEEP_DIR:-}" ]; then mkdir -p "$KEEP_DIR" && cp "$work"/callgrind.*.out "$KEEP_DIR"/; fi
