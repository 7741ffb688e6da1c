#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for the tests and prints its URL.
#   .ci/postgres.sh start [DIR] [PORT]   -> prints postgres://postgres@127.0.0.1:PORT/postgres
#                                           (PORT: a free one by default; a fixed port once
#                                           collided with a test server's ephemeral port)
#   .ci/postgres.sh stop  [DIR]
# Installs Debian's postgresql if needed. PostgreSQL refuses to run as root, so the cluster
# is created and run by the postgres user in DIR (default /tmp/players-api-pg).
set -euo pipefail
action="${1:?start or stop}"
dir="${2:-/tmp/players-api-pg}"
port="${3:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
if [ "$(id -u)" -eq 0 ]; then as_postgres=(runuser -u postgres --); apt_get=(apt-get); else as_postgres=(sudo -u postgres); apt_get=(sudo apt-get); fi
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
case "$action" in
  start)
    if [ -z "$bin" ]; then
      "${apt_get[@]}" update -qq >&2
      DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq postgresql >/dev/null
      bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    fi
    if [ -f "$dir/data/postmaster.pid" ]; then
      "${as_postgres[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    install -d -o postgres -g postgres "$dir"
    "${as_postgres[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
    "${as_postgres[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off" start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ] &&
      "${as_postgres[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
    ;;
  *) echo "usage: $0 start|stop [DIR] [PORT]" >&2; exit 2 ;;
esac
