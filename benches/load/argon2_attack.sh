#!/usr/bin/env bash
# Argon2 under attack, and how long failed client authentications take.
#
#   benches/load/argon2_attack.sh            # RATE=90 ADDRESSES=250 SECONDS=30 override
#
# 1. Timing: with the server idle, 21 wrong-secret grants one after another for an unknown
#    id, a plaintext client, a hashed client (argon2 crate defaults), a client holding two
#    hashes, and a client hashed with argon2-cffi's defaults (m=65536, t=3, p=4); prints the
#    median answer time of each. Every refusal should take about as long as the slowest.
# 2. Attack: RATE wrong secrets per second for a hashed client, spread over ADDRESSES
#    source addresses (X-Forwarded-For from a trusted proxy on loopback; each address stays
#    under its throttle budget), for SECONDS. Meanwhile, every few seconds, another hashed
#    client makes its first grant (nothing remembered): its latency and status are printed,
#    then the same under a burst of 300 concurrent wrong secrets. The server's RSS is
#    sampled throughout: the peak must stay under the idle RSS + Argon2 threads × the
#    largest memory cost configured.
#
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
rate="${RATE:-90}"
addresses="${ADDRESSES:-250}"
seconds="${SECONDS_OF_ATTACK:-30}"

# shellcheck source=benches/load/common.sh
source "$root/benches/load/common.sh"
python3 -c 'import argon2' 2>/dev/null || pip install -q argon2-cffi >/dev/null

# Clients: first-grant probes (hashed), a client with two hashes, one hashed by argon2-cffi.
probes=8
for i in $(seq 1 "$probes"); do
  created="$("$binary" create-client "first-$i" --scopes api:write --profile default)"
  sed -n 's/^# client_secret = "\(.*\)"$/\1/p' <<<"$created" > "$work/first-$i.secret"
  grep -v '^#' <<<"$created" >> "$work/config.toml"
done
hashes=($(sed -n 's/^client_secret_hash = \(".*"\)$/\1/p' "$work/config.toml"))
cffi_hash="$(python3 -c 'import argon2; print(argon2.PasswordHasher().hash("cffi-secret"))')"
cat >> "$work/config.toml" <<TOML
[[default.clients]]
client_id = "two-hashes"
client_secret_hash = [${hashes[1]}, ${hashes[2]}]
[[default.clients]]
client_id = "cffi"
client_secret_hash = "$cffi_hash"
TOML
sed -i 's/^max_failures = .*/max_failures = 30/' "$work/config.toml"
sed -i "s/^\[default\]$/[default]\ntrusted_proxies = [\"127.0.0.1\"]/" "$work/config.toml"

start "$work/config.toml" "$port"
pid="$server"
sleep 1
idle_kib="$(rss_kib "$pid" VmRSS)"

python3 - "$base" "$pid" "$rate" "$addresses" "$seconds" "$work" "$probes" "$secret" "$hashed_secret" "$idle_kib" <<'PY'
import concurrent.futures as cf, statistics, sys, threading, time, urllib.error, urllib.parse, urllib.request

base, pid, rate, addresses, seconds, work, probes, plain_secret, hashed_secret, idle_kib = sys.argv[1:]
rate, addresses, seconds, probes, idle_kib = int(rate), int(addresses), int(seconds), int(probes), int(idle_kib)

def grant(client_id, secret, forwarded):
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}).encode()
    request = urllib.request.Request(f"{base}/auth/token", data=body, headers={"X-Forwarded-For": forwarded})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
    return status, (time.perf_counter() - started) * 1000

def rss(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

print("== failed client authentication, server idle: median of 21 (ms)")
kinds = [("unknown id", "nobody"), ("plaintext client", "plain"), ("hashed client", "hashed"),
         ("client with two hashes", "two-hashes"), ("argon2-cffi defaults (m=65536,t=3,p=4)", "cffi")]
for n, (label, client_id) in enumerate(kinds):
    times = []
    for i in range(21):
        status, ms = grant(client_id, f"wrong-{i}", f"198.51.100.{n + 1}")
        assert status == 401, status
        times.append(ms)
    print(f"{label:42s} {statistics.median(times):8.1f}")

print(f"\n== attack: {rate} wrong secrets/s over {addresses} addresses for {seconds} s")
stop = threading.Event()
statuses = {}
lock = threading.Lock()
peak = [rss("VmRSS")]
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss("VmRSS"))
        time.sleep(0.1)
threading.Thread(target=sample, daemon=True).start()
pool = cf.ThreadPoolExecutor(max_workers=512)
def attack_one(i):
    status, _ = grant("hashed", f"guess-{i}", f"203.0.{(i % addresses) // 250}.{(i % addresses) % 250 + 1}")
    with lock:
        statuses[status] = statuses.get(status, 0) + 1
def attack():
    i, started = 0, time.perf_counter()
    while not stop.is_set():
        due = started + i / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        try:
            pool.submit(attack_one, i)
        except RuntimeError:  # shut down while sleeping
            break
        i += 1
threading.Thread(target=attack, daemon=True).start()
firsts = []
for n in range(1, probes - 1):
    time.sleep(seconds / (probes - 1))
    secret = open(f"{work}/first-{n}.secret").read().strip()
    status, ms = grant(f"first-{n}", secret, "192.0.2.77")
    firsts.append((n, status, ms))
    print(f"first grant of a hashed client at t={n * seconds / (probes - 1):4.1f} s: {status} in {ms:7.1f} ms")
print("burst: 300 concurrent wrong secrets, then a first grant")
for i in range(300):
    pool.submit(attack_one, 10_000_000 + i)
time.sleep(0.2)
secret = open(f"{work}/first-{probes}.secret").read().strip()
status, ms = grant(f"first-{probes}", secret, "192.0.2.78")
print(f"first grant of a hashed client under the burst: {status} in {ms:7.1f} ms")
stop.set()
time.sleep(0.1)
pool.shutdown(wait=True)
print(f"attack answers by status: {dict(sorted(statuses.items()))}")
import os
threads = max(1, (os.cpu_count() or 2) // 2)  # the server's Argon2 threads: half the cores
bound = idle_kib + threads * 65536  # the largest memory cost configured: argon2-cffi's 64 MiB
print(f"RSS idle {idle_kib / 1024:.1f} MiB; during the attack peak {peak[0] / 1024:.1f} MiB; "
      f"VmHWM (whole run, timing phase included) {rss('VmHWM') / 1024:.1f} MiB; "
      f"bound: idle + {threads} thread(s) x 64 MiB = {bound / 1024:.1f} MiB")
PY
