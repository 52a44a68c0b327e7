# Starts a throwaway PostgreSQL cluster for tests and local runs, unless DATABASE_URL
# already names a database. Source this file, then call `postgres_up`; it exports
# DATABASE_URL and stops the cluster when the calling shell exits.
#
# The cluster is built from the system's PostgreSQL binaries; when there are none, the
# Debian package `postgresql` is installed first.

postgres_bindir() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  return 1
}

postgres_install() {
  echo "postgres: no PostgreSQL server binaries found; installing the Debian package" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "postgres: need root (or sudo) to install PostgreSQL; or set DATABASE_URL" >&2
      return 1
    }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

postgres_free_port() {
  local port
  for port in $(seq 55432 55632); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "postgres: no free port between 55432 and 55632" >&2
  return 1
}

postgres_up() {
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "postgres: using DATABASE_URL from the environment" >&2
    return 0
  fi
  local bindir
  bindir=$(postgres_bindir) || { postgres_install && bindir=$(postgres_bindir); } || {
    echo "postgres: PostgreSQL is not installed and could not be installed" >&2
    return 1
  }

  PG_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fasterclaw-pg.XXXXXX")
  local port run_as=()
  port=$(postgres_free_port)
  # initdb and postgres refuse to run as root: run them as the `postgres` user.
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    chown postgres "$PG_TEST_DIR"
    run_as=(runuser -u postgres --)
  fi
  "${run_as[@]}" "$bindir/initdb" -D "$PG_TEST_DIR/data" -U postgres --auth=trust \
    --no-sync --encoding=UTF8 --locale=C >"$PG_TEST_DIR/initdb.log" 2>&1 || {
    cat "$PG_TEST_DIR/initdb.log" >&2
    return 1
  }
  "${run_as[@]}" "$bindir/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || {
    cat "$PG_TEST_DIR/server.log" >&2
    return 1
  }
  PG_TEST_BINDIR=$bindir
  PG_TEST_RUN_AS=("${run_as[@]}")
  trap postgres_down EXIT
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "postgres: throwaway cluster on 127.0.0.1:$port ($PG_TEST_DIR)" >&2
}

postgres_down() {
  if [ -n "${PG_TEST_DIR:-}" ] && [ -d "$PG_TEST_DIR/data" ]; then
    "${PG_TEST_RUN_AS[@]}" "$PG_TEST_BINDIR/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate \
      stop >/dev/null 2>&1 || true
    rm -rf "$PG_TEST_DIR"
  fi
}
