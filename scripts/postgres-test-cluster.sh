#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the store's PostgreSQL tests.
#
#   scripts/postgres-test-cluster.sh start [DIR]    create (first time) and start; prints the URL
#   scripts/postgres-test-cluster.sh stop [DIR]     fast shutdown; nothing to do if not running
#   scripts/postgres-test-cluster.sh restart [DIR]  fast restart, same port and data
#   scripts/postgres-test-cluster.sh url            the URL for the configured port
#
# DIR defaults to ${STORE_PG_DIR:-/tmp/store-pg}; the port is ${STORE_PG_PORT:-55432}.
# DIR holds the data directory (DIR/data), the server log (DIR/server.log) and the unix
# socket. The server listens on 127.0.0.1 only, trusts every local connection and uses
# the C locale (byte-order sorting). Only `start` and `url` write to stdout (the URL, one
# line); every diagnostic goes to stderr.
#
# initdb and postgres refuse to run as root: as root, the cluster belongs to and runs as
# `postgres` if that user exists, else a system user `store-pg` (created on first use).
# That user must be able to reach DIR, so DIR's parent directories must be searchable by
# it (a `mktemp -d` directory is not until `chmod 755`).
set -euo pipefail

port="${STORE_PG_PORT:-55432}"
database=store_test
role=store

say() { printf 'postgres-test-cluster: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

url() { printf 'postgres://%s@127.0.0.1:%s/%s\n' "$role" "$port" "$database"; }

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "STORE_PG_PORT is not a port: $port"

# The newest installed server, else whatever is on PATH (`pg_config --bindir` may name the
# client package's directory, which has no initdb).
find_bindir() {
    local newest
    newest="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | grep -v '\*' | sort -V | tail -n 1 || true)"
    if [[ -n "$newest" && -x "$newest" ]]; then
        dirname "$newest"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    else
        die "no PostgreSQL server binaries (initdb) found: install Debian's postgresql package"
    fi
}

set_dir() {
    local dir="${1:-${STORE_PG_DIR:-/tmp/store-pg}}"
    [[ -n "$dir" ]] || die "empty cluster directory"
    dir="$(realpath -m -- "$dir")"
    [[ "$dir" != / ]] || die "refusing to use / as the cluster directory"
    DIR="$dir"
    DATA="$dir/data"
    LOG="$dir/server.log"
    # A unix socket path is limited to 107 bytes.
    local socket="$dir/.s.PGSQL.$port"
    ((${#socket} <= 107)) || die "cluster directory path too long for a unix socket: $socket"
}

# Who owns and runs the cluster, and how to run a command as them.
pick_user() {
    if ((EUID != 0)); then
        RUN_USER="$(id -un)"
        return
    fi
    if [[ -d "$DATA" ]]; then
        RUN_USER="$(stat -c %U -- "$DATA")"
        [[ "$RUN_USER" != root ]] || die "$DATA belongs to root; delete $DIR and start again"
    elif id -u postgres >/dev/null 2>&1; then
        RUN_USER=postgres
    else
        if ! id -u store-pg >/dev/null 2>&1; then
            say "creating system user store-pg to run the cluster"
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin store-pg >&2
        fi
        RUN_USER=store-pg
    fi
}

as_user() {
    # From DIR: the caller's working directory may be unreadable by the cluster's user.
    # 9>&-: the server must not inherit (and hold for its lifetime) the lock's descriptor.
    if ((EUID == 0)); then
        (cd "$DIR" && runuser -u "$RUN_USER" -- "$@" 9>&-)
    else
        (cd "$DIR" && "$@" 9>&-)
    fi
}

log_tail() {
    if [[ -r "$LOG" ]]; then
        say "last lines of $LOG:"
        tail -n 30 -- "$LOG" >&2 || true
    fi
}

fail() {
    say "error: $*"
    log_tail
    exit 1
}

lock() {
    # Serialise start/stop/restart on one DIR (best effort: flock is in util-linux).
    if command -v flock >/dev/null 2>&1 && [[ -d "$DIR" ]]; then
        exec 9>>"$DIR/.lock"
        flock -w 120 9 || die "another start/stop/restart holds $DIR/.lock"
    fi
}

is_running() { as_user "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; }

running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true; }

wait_ready() {
    local i
    for ((i = 0; i < 120; i++)); do
        ready && return 0
        sleep 0.5
    done
    return 1
}

psql_admin() {
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$role" -d postgres "$@"
}

ensure_database() {
    local exists
    exists="$(psql_admin -Atc "SELECT 1 FROM pg_database WHERE datname = '$database'")" ||
        fail "cannot connect to the cluster as $role on 127.0.0.1:$port"
    if [[ "$exists" != 1 ]]; then
        psql_admin -c "CREATE DATABASE $database OWNER $role" >&2 ||
            fail "cannot create database $database"
    fi
}

# Settings rewritten at every start (postgresql.conf includes this file), so a changed
# STORE_PG_PORT applies to an existing cluster; restart re-reads them unchanged.
write_settings() {
    as_user tee "$DATA/store-test.conf" >/dev/null <<EOF
# Written by scripts/postgres-test-cluster.sh at every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR'
max_connections = 200
EOF
}

start() {
    set_dir "${1:-}"
    BIN="$(find_bindir)"
    PSQL="$BIN/psql"
    [[ -x "$PSQL" ]] || PSQL="$(command -v psql)" || die "no psql found"
    mkdir -p -- "$DIR"
    pick_user
    if ((EUID == 0)); then
        chown "$RUN_USER:" -- "$DIR"
        runuser -u "$RUN_USER" -- test -w "$DIR" -a -x "$DIR" ||
            die "user $RUN_USER cannot reach $DIR: make its parent directories searchable (chmod 755)"
    fi
    lock

    if is_running; then
        local running
        running="$(running_port)"
        [[ "$running" == "$port" ]] ||
            die "a cluster already runs in $DIR on port ${running:-?}, not $port: stop it first"
        say "already running in $DIR"
        wait_ready || fail "the cluster in $DIR does not accept connections on 127.0.0.1:$port"
        ensure_database
        url
        return
    fi
    if ready; then
        die "something else already accepts connections on 127.0.0.1:$port: choose another STORE_PG_PORT"
    fi

    local major
    major="$("$BIN/initdb" --version | sed -n '1s/^[^0-9]*\([0-9][0-9]*\).*/\1/p')"
    if [[ -f "$DATA/PG_VERSION" ]]; then
        [[ "$(cat "$DATA/PG_VERSION")" == "$major" ]] ||
            die "$DATA was made by PostgreSQL $(cat "$DATA/PG_VERSION"), the server is $major: delete $DIR"
    else
        say "initdb (PostgreSQL $major, $BIN) in $DATA as $RUN_USER"
        as_user "$BIN/initdb" --pgdata="$DATA" --auth=trust --username="$role" \
            --encoding=UTF8 --locale=C >"$DIR/initdb.log" 2>&1 || {
            cat "$DIR/initdb.log" >&2
            die "initdb failed"
        }
        printf "\ninclude_if_exists 'store-test.conf'\n" | as_user tee -a "$DATA/postgresql.conf" >/dev/null
    fi
    write_settings
    say "starting on 127.0.0.1:$port (log: $LOG)"
    as_user "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2 ||
        fail "pg_ctl start failed"
    wait_ready || fail "the server started but does not accept connections on 127.0.0.1:$port"
    ensure_database
    url
}

stop() {
    set_dir "${1:-}"
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        say "no cluster in $DIR: nothing to stop"
        return
    fi
    BIN="$(find_bindir)"
    pick_user
    lock
    if ! is_running; then
        say "not running in $DIR"
        return
    fi
    as_user "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >&2 || fail "pg_ctl stop failed"
}

restart() {
    set_dir "${1:-}"
    [[ -f "$DATA/PG_VERSION" ]] || die "no cluster in $DIR: use start"
    BIN="$(find_bindir)"
    pick_user
    lock
    # -l again: without it the restarted server would log to (and hold open) our stdout.
    as_user "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -m fast -w -t 60 restart >&2 ||
        fail "pg_ctl restart failed"
    port="$(running_port)"; port="${port:-${STORE_PG_PORT:-55432}}"
    wait_ready || fail "the server restarted but does not accept connections on 127.0.0.1:$port"
}

case "${1:-}" in
start | stop | restart)
    command="$1"
    shift
    (($# <= 1)) || usage
    "$command" "$@"
    ;;
url)
    (($# <= 2)) || usage
    url
    ;;
*) usage ;;
esac
