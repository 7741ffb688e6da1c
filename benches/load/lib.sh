# Functions of the load scripts that build and start nothing (sourced, not run): what
# common.sh (which builds this tree's release binary) and ab.sh (which is given two
# binaries) both need.
install_package() {  # command [package]
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" -eq 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  "${apt_get[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq "${2:-$1}" >/dev/null
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
random_secret() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }

# A throwaway configuration on loopback: a new HS256 key, no throttle in practice, and the
# plaintext client "plain" with secret SECRET (api:write); EXTRA is appended as it is.
write_config() {  # file port database-file secret [extra]
  cat > "$1" <<TOML
[default]
port = $2
database_url = "sqlite://$3"
[default.jwt]
key = "$(head -c 48 /dev/urandom | base64)"
issuer = "bench"
audience = "bench"
[default.throttle]
max_failures = 1000000000
[[default.clients]]
client_id = "plain"
client_secret = "$4"
${5:-}
TOML
}
