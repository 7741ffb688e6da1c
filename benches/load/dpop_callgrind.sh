#!/usr/bin/env bash
# Instructions per protected write over HTTP, Bearer against DPoP (RFC 9449), counted by
# callgrind as in callgrind.sh: the server's user-space work per request, which does not
# move with the VM's noise. wrk cannot sign proofs, so a Python client signs one proof per
# request beforehand (each with its own jti: the server records every one) and sends them
# one at a time over keep-alive. The ratio is the issue 15 figure "DPoP writes against
# Bearer writes".
#
#   benches/load/dpop_callgrind.sh               # 2,000 requests per scenario
#   REQUESTS=500 benches/load/dpop_callgrind.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
requests="${REQUESTS:-2000}"
warmup="${WARMUP:-500}"
# shellcheck source=benches/load/common.sh
source "$root/benches/load/common.sh"
install_package valgrind
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check 'pyjwt[crypto]==2.15.1'

client="$work/client.py"
cat > "$client" <<'PY'
"""usage: client.py port count scheme [prepare]: PUT /players/squadnumber/10 count times.
With `prepare`, gets a token (bound to a new key when scheme is DPoP) and signs the proofs
into files first; without, sends them."""
import base64, hashlib, http.client, json, sys, time, uuid
import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives import serialization

port, count, scheme = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
state = sys.argv[4] if len(sys.argv) > 4 else None
base = f"http://127.0.0.1:{port}"
path = "/players/squadnumber/10"
player = json.dumps({"firstName": "Lionel", "lastName": "Messi", "squadNumber": 10,
                     "position": "Right Winger", "team": "Inter Miami CF"}).encode()
if state and len(sys.argv) > 5:  # prepare: a token, and `count` proofs
    secret = sys.argv[5]
    key = ed25519.Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    def proof(method, url, token=None):
        claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
        if token:
            claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "dpop+jwt", "jwk": jwk})
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if scheme == "DPoP":
        headers["DPoP"] = proof("POST", f"{base}/auth/token")
    connection.request("POST", "/auth/token", body=f"grant_type=client_credentials&client_id=plain&client_secret={secret}", headers=headers)
    token = json.loads(connection.getresponse().read())["access_token"]
    proofs = [proof("PUT", f"{base}{path}", token) if scheme == "DPoP" else "" for _ in range(count)]
    json.dump({"token": token, "proofs": proofs}, open(state, "w"))
    sys.exit(0)
prepared = json.load(open(state))
connection = http.client.HTTPConnection("127.0.0.1", port)
for proof in prepared["proofs"][:count]:
    headers = {"Content-Type": "application/json", "Authorization": f"{scheme} {prepared['token']}"}
    if proof:
        headers["DPoP"] = proof
    connection.request("PUT", path, body=player, headers=headers)
    response = connection.getresponse()
    response.read()
    if response.status != 204:
        sys.exit(f"{scheme} PUT: {response.status}")
PY

results="$work/results.tsv"
measure() {  # scheme
  local scheme="$1" out="$work/callgrind.$1.out" state="$work/$1.json"
  START_TRIES=600 start "$work/config.toml" "$port" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out"
  "$work/venv/bin/python3" "$client" "$port" "$((warmup + requests))" "$scheme" "$state" "$secret"
  "$work/venv/bin/python3" "$client" "$port" "$warmup" "$scheme" "$state"
  # The measured requests use the proofs after the warm-up's.
  "$work/venv/bin/python3" - "$state" "$warmup" <<'PY'
import json, sys
state = json.load(open(sys.argv[1])); state["proofs"] = state["proofs"][int(sys.argv[2]):]
json.dump(state, open(sys.argv[1], "w"))
PY
  callgrind_control --instr=on "$server" >/dev/null 2>&1
  "$work/venv/bin/python3" "$client" "$port" "$requests" "$scheme" "$state"
  callgrind_control --instr=off "$server" >/dev/null 2>&1
  stop "$server"
  local total
  total="$(awk '/^totals:/ {n = $2} END {print n}' "$out")"
  echo -e "$scheme\t$((total / requests))" >> "$results"
}

measure Bearer
measure DPoP

python3 - "$results" <<'PY'
import sys
counts = {name: int(n) for name, n in (line.split("\t") for line in open(sys.argv[1]).read().splitlines())}
print(f"{'PUT with':<10}{'instructions/request':>22}{'Bearer / scheme':>18}")
for name, n in counts.items():
    print(f"{name:<10}{n:>22,}{counts['Bearer'] / n:>18.2f}")
PY
