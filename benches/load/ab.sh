#!/usr/bin/env bash
# A/B of two builds of the server in one sitting: both run side by side on loopback, and
# each round measures, for each build in turn, /health, a grant (form, client_secret_post)
# and a DELETE with a bad signature, 2 s each with wrk; the ratios to the same build's
# /health in the same round are printed. On a shared VM whose speed drifts by 15 % within
# a minute, this is the fair way to say whether a change made something slower.
#
#   benches/load/ab.sh OLD_BINARY NEW_BINARY     # ROUNDS=6 DURATION=2 override
#
# Build the old binary from a worktree of the old commit (cargo build --release) and copy
# it aside first. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
old="$1" new="$2"
rounds="${ROUNDS:-6}"
duration="${DURATION:-2}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=benches/load/lib.sh
source "$root/benches/load/lib.sh"
install_package wrk
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
secret="$(random_secret)"

declare -A port
for build in old new; do
  port[$build]="$(free_port)"
  write_config "$work/$build.toml" "${port[$build]}" "$work/$build.db" "$secret"
  binary="$old"; [ "$build" = new ] && binary="$new"
  APP_PROFILE=release APP_CONFIG="$work/$build.toml" "$binary" > "$work/$build.log" 2>&1 &
  pids+=("$!")
done
for build in old new; do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${port[$build]}/health" >/dev/null && break; sleep 0.1; done
done

cat > "$work/grant.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&client_id=plain&client_secret=$secret"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
for build in old new; do
  # The token with its last character replaced by another canonical base64url ending, so
  # the signature decodes and the HMAC runs (a non-canonical ending is refused earlier).
  token="$(curl -sf "http://127.0.0.1:${port[$build]}/auth/token" \
    -d "grant_type=client_credentials&client_id=plain&client_secret=$secret" |
    python3 -c 'import json, sys; t = json.load(sys.stdin)["access_token"]; print(t[:-1] + ("E" if t[-1] == "A" else "A"))')"
  printf 'wrk.method = "DELETE"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$token" > "$work/bad-$build.lua"
done

rps() { wrk -t1 -c32 -d"${duration}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
for build in old new; do rps "http://127.0.0.1:${port[$build]}/health" >/dev/null; done  # warm-up
printf '%-6s %-5s %10s %10s %10s %8s %8s\n' round build health grant bad grant/h bad/h
for round in $(seq 1 "$rounds"); do
  for build in old new; do
    base="http://127.0.0.1:${port[$build]}"
    h="$(rps "$base/health")"
    g="$(rps -s "$work/grant.lua" "$base/auth/token")"
    b="$(rps -s "$work/bad-$build.lua" "$base/players/squadnumber/10")"
    python3 -c "print(f'{$round:<6} {\"$build\":<5} {$h:10.0f} {$g:10.0f} {$b:10.0f} {$g/$h:8.2f} {$b/$h:8.2f}')"
  done
done
