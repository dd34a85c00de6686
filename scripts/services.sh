#!/usr/bin/env bash
# Start (or stop) throw-away PostgreSQL and Redis servers for the scale-out test run.
# Usage: scripts/services.sh start|stop   — prints the KEFU_* variables to export on start.
set -euo pipefail

STATE_DIR="${KEFU_SERVICES_DIR:-/tmp/kefu-test-services}"
PG_PORT="${KEFU_TEST_PG_PORT:-54329}"
REDIS_PORT="${KEFU_TEST_REDIS_PORT:-63799}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"

start() {
  mkdir -p "$STATE_DIR"
  chmod 777 "$STATE_DIR"
  if [ ! -d "$STATE_DIR/pg" ]; then
    install -d -o postgres -g postgres "$STATE_DIR/pg"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$STATE_DIR/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STATE_DIR/pg" status >/dev/null 2>&1; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STATE_DIR/pg" -l "$STATE_DIR/pg.log" -w \
      -o "-p $PG_PORT -k $STATE_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null
  fi
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
      --logfile "$STATE_DIR/redis.log" --pidfile "$STATE_DIR/redis.pid"
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export KEFU_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export KEFU_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

stop() {
  [ -d "$STATE_DIR/pg" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STATE_DIR/pg" -m fast stop >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
