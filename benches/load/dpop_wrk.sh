#!/usr/bin/env bash
# Requests per second of protected writes, Bearer against DPoP (RFC 9449), with wrk. wrk
# cannot sign, so a Python client signs one proof per request beforehand (each its own
# jti, all within their 60-s window) and a Lua script hands each request the next one.
# The scenarios alternate, ROUNDS times DURATION seconds each; the ratio is taken within
# each round and the median printed. wrk shares the machine's cores with the server, so
# req/s moves with wrk's own share; the server's CPU time per request (user + system,
# from /proc) is printed beside it, and its ratio is the steadier figure.
#
#   benches/load/dpop_wrk.sh                     # 5 rounds of 3 s, 32 connections
#   ROUNDS=3 DURATION=2 benches/load/dpop_wrk.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
rounds="${ROUNDS:-5}"
duration="${DURATION:-3}"
connections="${CONNECTIONS:-32}"
# shellcheck source=benches/load/common.sh
source "$root/benches/load/common.sh"
install_package wrk
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check 'pyjwt[crypto]==2.15.1'
start "$work/config.toml" "$port"

# Tokens (a Bearer one, and one bound to a new key) and, per round, a file of proofs for
# PUT /players/squadnumber/10: more than the fastest round can use.
prepare="$work/prepare.py"
cat > "$prepare" <<'PY'
import base64, hashlib, json, sys, time, uuid, urllib.parse, urllib.request
import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
base, secret, out, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = ed25519.Ed25519PrivateKey.generate()
jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
def proof(method, url, token=None):
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token:
        claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "dpop+jwt", "jwk": jwk})
def token(dpop):
    data = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "plain", "client_secret": secret}).encode()
    request = urllib.request.Request(f"{base}/auth/token", data=data)
    if dpop:
        request.add_header("DPoP", proof("POST", f"{base}/auth/token"))
    return json.load(urllib.request.urlopen(request))["access_token"]
bearer, bound = token(False), token(True)
open(f"{out}.bearer", "w").write(bearer)
open(f"{out}.dpop", "w").write(bound)
with open(f"{out}.proofs", "w") as proofs:
    for _ in range(count):
        proofs.write(proof("PUT", f"{base}/players/squadnumber/10", bound) + "\n")
PY
player='{"firstName":"Lionel","lastName":"Messi","squadNumber":10,"position":"Right Winger","team":"Inter Miami CF"}'
lua() {  # scheme token-file [proofs-file]
  cat <<LUA
local token = io.open("$2"):read("*l")
local proofs = {}
local proofs_file = "${3:-}"
if proofs_file ~= "" then for line in io.lines(proofs_file) do proofs[#proofs + 1] = line end end
local next = 1
request = function()
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "$1 " .. token }
  if #proofs > 0 then headers["DPoP"] = proofs[next]; next = next + 1 end
  return wrk.format("PUT", "/players/squadnumber/10", headers, '$player')
end
LUA
}
rps() {  # script: requests/s, after checking every answer was 2xx
  local out
  out="$(wrk -t1 -c"$connections" -d"${duration}s" -s "$1" "$base")"
  if grep -q 'Non-2xx' <<<"$out"; then echo "$out" >&2; echo "answers that were not 2xx" >&2; exit 1; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
ratios=()
cpu_ratios=()
ticks_per_second="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # pid: user + system time so far
for round in $(seq 1 "$rounds"); do
  "$work/venv/bin/python3" "$prepare" "$base" "$secret" "$work/round$round" 60000
  lua Bearer "$work/round$round.bearer" > "$work/bearer.lua"
  lua DPoP "$work/round$round.dpop" "$work/round$round.proofs" > "$work/dpop.lua"
  t0="$(cpu_ticks "$server")"
  bearer="$(rps "$work/bearer.lua")"
  t1="$(cpu_ticks "$server")"
  dpop="$(rps "$work/dpop.lua")"
  t2="$(cpu_ticks "$server")"
  read -r ratio bearer_us dpop_us cpu_ratio < <(python3 -c "
hz, d = $ticks_per_second, $duration
b, p = ($t1 - $t0) / hz / ($bearer * d) * 1e6, ($t2 - $t1) / hz / ($dpop * d) * 1e6
print(f'{$dpop / $bearer:.2f} {b:.0f} {p:.0f} {b / p:.2f}')")
  ratios+=("$ratio")
  cpu_ratios+=("$cpu_ratio")
  echo "round $round: Bearer PUT $bearer req/s, DPoP PUT $dpop req/s, DPoP / Bearer $ratio;" \
    "server CPU per request: Bearer $bearer_us µs, DPoP $dpop_us µs, Bearer / DPoP $cpu_ratio"
done
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "median DPoP / Bearer req/s: $(printf '%s\n' "${ratios[@]}" | median)"
echo "median Bearer / DPoP server CPU per request: $(printf '%s\n' "${cpu_ratios[@]}" | median)"
