# Shared by callgrind.sh and revocations_callgrind.sh (sourced after common.sh): a client
# that sends one request COUNT times over keep-alive and checks each status, and
# `measure`, which runs the release server under callgrind, warms it with $warmup
# requests, counts only the $requests that follow and appends "name<TAB>instructions per
# request" to $results.
# shellcheck disable=SC2154  # $work, $port, $server, $warmup, $requests: the sourcing script's
install_package valgrind

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
measure() {  # name expected-status method path body [header...]
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

