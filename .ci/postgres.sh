#!/usr/bin/env bash
# PostgreSQL (Debian's package) on loopback for the tests: a throw-away cluster in DIR,
# listening on 127.0.54.32:5433 only (no Unix socket outside DIR), trust authentication for
# loopback, C collation so ORDER BY sorts as SQLite does. Tests create their own databases.
#   URL for tests: postgres://mxray@127.0.54.32:5433/postgres
# Usage: postgres.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$d" ] || { echo "PostgreSQL server binaries not found" >&2; return 1; }
    echo "$d"
}

case "${1:-}" in
install)
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        # The client (psql) may be there without the server: check for initdb itself.
        install_packages /usr/lib/postgresql/missing/initdb postgresql
    fi
    ;;
start)
    d=${2:?usage: postgres.sh start DIR}
    bin=$(pg_bin)
    mkdir -p "$d/data" "$d/run"
    # initdb and postgres refuse to run as root: the data belongs to the postgres user.
    chown -R postgres:postgres "$d"; chmod 755 "$d"
    runuser -u postgres -- "$bin/initdb" -D "$d/data" -U postgres -A trust --locale=C.UTF-8 -E UTF8 >"$d/initdb.log"
    cat >> "$d/data/postgresql.conf" <<CONF
listen_addresses = '127.0.54.32'
port = 5433
unix_socket_directories = '$d/run'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    echo "host all all 127.0.0.0/8 trust" > "$d/data/pg_hba.conf"
    echo "local all all trust" >> "$d/data/pg_hba.conf"
    runuser -u postgres -- "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w start >/dev/null
    runuser -u postgres -- "$bin/psql" -h 127.0.54.32 -p 5433 -U postgres -qc "CREATE ROLE mxray LOGIN SUPERUSER" postgres
    wait_port 127.0.54.32 5433
    ;;
stop)
    d=${2:?usage: postgres.sh stop DIR}
    bin=$(pg_bin) || exit 0
    [ -d "$d/data" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$d/data" -m immediate stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2
    ;;
esac
