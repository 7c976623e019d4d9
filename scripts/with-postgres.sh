#!/usr/bin/env bash
# with-postgres.sh CMD...: starts a private PostgreSQL cluster on a free
# loopback port (initdb/pg_ctl as the postgres user), exports its DSN as
# BASALT_TEST_PG_DSN, runs CMD, then stops the cluster and removes it.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "with-postgres: PostgreSQL server binaries not found under /usr/lib/postgresql (scripts/ensure-deps.sh installs them)" >&2
  exit 1
fi

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

dir=$(mktemp -d /tmp/basalt-pg.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))

cleanup() {
  as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-k $dir -c listen_addresses=127.0.0.1 -p $port -c fsync=off -c max_connections=300" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }

export BASALT_TEST_PG_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "with-postgres: private cluster on 127.0.0.1:$port" >&2
set +e
"$@"
rc=$?
set -e
exit $rc
