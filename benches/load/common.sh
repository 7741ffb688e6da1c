# Shared by the load scripts (sourced, not run): builds the release binary, writes a
# throwaway configuration on loopback (a plaintext client "plain" with $secret and an
# Argon2id client "hashed" with $hashed_secret, both allowed api:write) in
# $work/config.toml for $port, and defines (with lib.sh) install_package, free_port, start, stop,
# rss_kib and fetch_tokens.
# shellcheck source=benches/load/lib.sh
source "$root/benches/load/lib.sh"
cargo build --release --locked --quiet
binary="$root/target/release/players-api"
work="$(mktemp -d)"
servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
secret="$(random_secret)"
created="$("$binary" create-client hashed --scopes api:write --profile default)"
hashed_secret="$(sed -n 's/^# client_secret = "\(.*\)"$/\1/p' <<<"$created")"
hash_entry="$(grep -v '^#' <<<"$created")"
port="$(free_port)"
write_config "$work/config.toml" "$port" "$work/players.db" "$secret" "$hash_entry"
base="http://127.0.0.1:$port"

start() {  # config-file port [prefix command...]: starts a server, leaves its pid in $server
  local config="$1" at="$2"; shift 2
  APP_CONFIG="$config" "$@" "$binary" > "$work/server-$at.log" 2>&1 &
  server=$!
  servers+=("$server")
  for _ in $(seq 1 "${START_TRIES:-100}"); do curl -sf "http://127.0.0.1:$at/health" >/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; cat "$work/server-$at.log" >&2; exit 1
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }  # pid
rss_kib() { awk "/^$2:/ {print \$2}" "/proc/$1/status"; }  # pid VmRSS|VmHWM


# A token for "plain", and the same token with its last signature character changed.
fetch_tokens() {
  token="$(curl -sf "$base/auth/token" -d "grant_type=client_credentials&client_id=plain&client_secret=$secret" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
  bad_token="${token%?}$( [ "${token: -1}" = A ] && echo B || echo A )"
}
