#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the noise-free companion of run.sh.
# On a shared VM wrk's req/s move ±15 % between runs; the number of instructions the
# server executes for a request does not. Each scenario runs the release binary under
# valgrind, warms it with WARMUP requests, then counts only the REQUESTS that follow
# (keep-alive, one at a time) and prints instructions per request and their ratio to
# /health. Only the server's user-space instructions are counted: not the kernel's
# socket work, which every request pays alike.
#
#   benches/load/callgrind.sh               # 10,000 requests per scenario
#   REQUESTS=2000 benches/load/callgrind.sh
#
# Valgrind's CPU has no SHA extensions, so SHA-256 (HMAC, digests) counts several times
# what it costs on a CPU that has them: read the ratios as an upper bound on auth's cost.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
requests="${REQUESTS:-10000}"
warmup="${WARMUP:-2000}"
# shellcheck source=benches/load/common.sh
source "$root/benches/load/common.sh"
start "$work/config.toml" "$port"
fetch_tokens
stop "$server"

# shellcheck source=benches/load/callgrind_measure.sh
source "$root/benches/load/callgrind_measure.sh"

form="grant_type=client_credentials&client_id=plain&client_secret=$secret"
player='{"firstName":"Lionel","lastName":"Messi","squadNumber":10,"position":"Right Winger","team":"Inter Miami CF"}'
measure health 200 GET /health ''
measure grant_post 200 POST /auth/token "$form" 'Content-Type: application/x-www-form-urlencoded'
measure bad_token_delete 401 DELETE /players/squadnumber/10 '' "Authorization: Bearer $bad_token"
measure get_player 200 GET /players/squadnumber/10 ''
measure put_normal 204 PUT /players/squadnumber/10 "$player" 'Content-Type: application/json' "Authorization: Bearer $token"

python3 - "$results" <<'PY'
import sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
counts = {name: int(n) for name, n in rows}
print(f"{'scenario':<18}{'instructions/request':>22}{'health / scenario':>20}")
for name, n in counts.items():
    print(f"{name:<18}{n:>22,}{counts['health'] / n:>20.2f}")
PY
