#!/usr/bin/env bash
# A throwaway PostgreSQL server for the outbox's postgres-sink tests.
#
#   eval "$(bash .ci/postgres.sh)"           # the server every PostgreSQL test uses
#   eval "$(bash .ci/postgres.sh outage)"    # a second one, which the outage tests stop and restart
#
# Installs Debian's postgresql if its binaries are missing, creates a fresh cluster in a temp
# directory (trust auth, 127.0.0.1 only, fsync on), starts it, creates the database `walcheck`
# and prints on stdout the lines to eval, the URL last:
#   export WALCHECK_PG_DATA=<data dir>    export WALCHECK_PG_CTL=<pg_ctl>
#   export WALCHECK_PG_USER=<OS user to run pg_ctl as>    export WALCHECK_PG_LOG=<server log>
#   export WALCHECK_PG_URL=postgres://postgres@127.0.0.1:<port>/walcheck
# Everything else goes to stderr. Run it again in the same session and it reuses the server
# it started (starting it again if it was stopped) instead of making a second one.
#
# With an instance name (outage), the variables are WALCHECK_PG_OUTAGE_URL and so on, and the
# ports start at 55532: the outage tests stop their own server, never the one other test
# files are using at the same moment.
#
# Settings (environment): WALCHECK_PG_PORT, the first port to try (55432, or 55532 for a named
# instance; the next free one up to +99 is taken). The state file naming the cluster is
# ${TMPDIR:-/tmp}/walcheck-postgres-<uid>[-<instance>].env.
set -euo pipefail

# `--stop` (last argument): stop the instance's server and remove its cluster (CI's exit trap).
action=start
if [ "${!#:-}" = "--stop" ]; then action=stop; set -- "${@:1:$#-1}"; fi
instance="${1:-}"
case "$instance" in
  "") prefix=WALCHECK_PG; suffix=""; default_port=55432 ;;
  *[!a-z]*) echo "postgres.sh: the instance name must be lower-case letters, got '$instance'" >&2; exit 2 ;;
  *) prefix="WALCHECK_PG_$(echo "$instance" | tr a-z A-Z)"; suffix="-$instance"; default_port=55532 ;;
esac

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }
now_ms() { date +%s%3N; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

state_file="${TMPDIR:-/tmp}/walcheck-postgres-$(id -u)${suffix}.env"
first_port="${WALCHECK_PG_PORT:-$default_port}"

# The newest installed major version's binaries (Debian keeps them out of PATH).
find_bindir() {
  local d
  # A glob sorts 10 before 9: sort on the version number.
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; fi
  done | sort -t/ -k5,5n | tail -n 1
}

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
  command -v apt-get >/dev/null || die "no PostgreSQL under /usr/lib/postgresql/*/bin and no apt-get to install it: install PostgreSQL (initdb, pg_ctl) and try again"
  log "installing Debian's postgresql ..."
  started=$(now_ms)
  install_postgres() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2; }
  # Stale or empty package lists (a fresh container): update them and try again.
  install_postgres || { as_root apt-get update -q >&2 && install_postgres; }
  bindir=$(find_bindir)
  [ -n "$bindir" ] || die "apt-get installed postgresql, but there is still no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
  log "installed postgresql in $(( $(now_ms) - started )) ms: $("$bindir/postgres" --version)"
fi
pg_ctl="$bindir/pg_ctl"

# initdb and the server refuse to run as root: as root, the cluster belongs to `postgres`.
if [ "$(id -u)" -eq 0 ]; then
  pg_user=postgres
  getent passwd "$pg_user" >/dev/null || die "running as root, and there is no OS user '$pg_user' to own the cluster (Debian's postgresql package creates it)"
else
  pg_user=$(id -un)
fi
# Run a server binary as the cluster's owner, from / (the caller's directory may be closed to it).
as_owner() {
  if [ "$(id -un)" = "$pg_user" ]; then (cd / && "$@"); else (cd / && runuser -u "$pg_user" -- "$@"); fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ready() { "$bindir/pg_isready" -q -h 127.0.0.1 -p "$1" -d postgres -U postgres -t 5; }

print_env() { # data port
  local data=$1 port=$2
  printf 'export %s_DATA=%q\n' "$prefix" "$data"
  printf 'export %s_CTL=%q\n' "$prefix" "$pg_ctl"
  printf 'export %s_USER=%q\n' "$prefix" "$pg_user"
  printf 'export %s_LOG=%q\n' "$prefix" "$(dirname "$data")/postgres.log"
  printf 'export %s_URL=%q\n' "$prefix" "postgres://postgres@127.0.0.1:$port/walcheck"
}

ensure_database() { # port
  local exists
  exists=$("$bindir/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -X -tAq -c "SELECT 1 FROM pg_database WHERE datname = 'walcheck'")
  if [ "$exists" != 1 ]; then
    "$bindir/createdb" -h 127.0.0.1 -p "$1" -U postgres walcheck
    log "created database walcheck"
  fi
}

if [ "$action" = stop ]; then
  [ -f "$state_file" ] || { log "no server of this instance to stop"; exit 0; }
  old_data=$(sed -n 's/^data=//p' "$state_file")
  if [ -n "$old_data" ] && [ -f "$old_data/PG_VERSION" ]; then
    as_owner "$pg_ctl" stop -D "$old_data" -m fast -w >&2 || true
    rm -rf "$(dirname "$old_data")"
    log "stopped and removed the cluster in $old_data"
  fi
  rm -f "$state_file"
  exit 0
fi

# A server this script started earlier (same user, same TMPDIR): reuse it.
if [ -f "$state_file" ]; then
  old_data=$(sed -n 's/^data=//p' "$state_file")
  old_port=$(sed -n 's/^port=//p' "$state_file")
  if [ -n "$old_data" ] && [ -n "$old_port" ] && [ -f "$old_data/PG_VERSION" ]; then
    if ! as_owner "$pg_ctl" status -D "$old_data" >/dev/null 2>&1; then
      log "starting the existing cluster in $old_data on port $old_port ..."
      started=$(now_ms)
      if as_owner "$pg_ctl" start -w -t 60 -D "$old_data" -l "$(dirname "$old_data")/postgres.log" >&2; then
        log "started in $(( $(now_ms) - started )) ms"
      else
        log "could not start it (see $(dirname "$old_data")/postgres.log)"
      fi
    fi
    if ready "$old_port"; then
      ensure_database "$old_port"
      log "reusing the server in $old_data on 127.0.0.1:$old_port"
      print_env "$old_data" "$old_port"
      exit 0
    fi
    log "the cluster in $old_data does not answer on port $old_port: making a new one"
  fi
  rm -f "$state_file"
fi

# A fresh cluster. The parent directory holds the data directory and the server log.
base=$(mktemp -d "${TMPDIR:-/tmp}/walcheck-pg.XXXXXX")
chmod 0755 "$base"
[ "$(id -un)" = "$pg_user" ] || chown "$pg_user:" "$base"
# A TMPDIR the cluster's owner cannot reach (a private 0700 directory of root's): use /tmp.
if ! as_owner test -w "$base"; then
  rm -rf "$base"
  base=$(mktemp -d /tmp/walcheck-pg.XXXXXX)
  chmod 0755 "$base"
  [ "$(id -un)" = "$pg_user" ] || chown "$pg_user:" "$base"
  log "${TMPDIR:-/tmp} is closed to $pg_user: the cluster goes in $base"
fi
data="$base/data"
logfile="$base/postgres.log"

log "initdb $data ($("$bindir/postgres" --version), owner $pg_user) ..."
started=$(now_ms)
# --auth=trust: local socket and the loopback addresses only (the server listens on nothing else).
# --data-checksums: a torn or flipped page is reported, not read. Its chatter goes to a file,
# shown only if it fails. C.UTF-8 where the C library has it, else plain C.
initdb_log="$base/initdb.log"
run_initdb() { as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --data-checksums -E UTF8 --locale="$1" --no-instructions >>"$initdb_log" 2>&1; }
: >"$initdb_log"
[ "$(id -un)" = "$pg_user" ] || chown "$pg_user:" "$initdb_log"
run_initdb C.UTF-8 || run_initdb C || { cat "$initdb_log" >&2; die "initdb failed (log above, and in $initdb_log)"; }
log "initdb took $(( $(now_ms) - started )) ms"

# Appended: a later line wins over initdb's settings above it.
as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF

# walcheck test server (.ci/postgres.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$data'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 50
shared_buffers = 32MB
EOF

port=$first_port
while :; do
  if port_in_use "$port"; then
    port=$((port + 1))
  else
    log "starting on 127.0.0.1:$port ..."
    started=$(now_ms)
    if as_owner "$pg_ctl" start -w -t 60 -D "$data" -l "$logfile" -o "-p $port" >&2; then
      log "started in $(( $(now_ms) - started )) ms"
      break
    fi
    # Someone took the port between the check and the bind: try the next one.
    grep -q "could not bind\|could not create any TCP/IP sockets" "$logfile" 2>/dev/null || die "could not start the server: see $logfile"
    port=$((port + 1))
  fi
  [ "$port" -lt $((first_port + 100)) ] || die "no free port in $first_port..$((first_port + 99))"
done
# The port in the config, so that a plain `pg_ctl start -D <data>` (the tests' restart) uses it.
echo "port = $port" | as_owner tee -a "$data/postgresql.conf" >/dev/null

ready "$port" || die "the server started but does not answer on 127.0.0.1:$port: see $logfile"
ensure_database "$port"
printf 'data=%s\nport=%s\n' "$data" "$port" >"$state_file"
log "server ready: stop it with: $( [ "$(id -un)" = "$pg_user" ] || echo "runuser -u $pg_user -- ")$pg_ctl stop -D $data -m fast"
print_env "$data" "$port"
