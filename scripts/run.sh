#!/usr/bin/env bash
# make run: the whole system as local processes, without Docker.
# Makes sure the secrets and the virtualenv exist, starts the local stack (MongoDB, RabbitMQ,
# MariaDB, an SMTP catcher), then runs auth, gateway, converter and notification in the
# foreground, each log line prefixed with its service's name. Ctrl-C stops the four services;
# the stack keeps running for the next `make run` (`scripts/stack.sh stop` ends it).
#
# Mail goes to the stack's SMTP catcher and lands in .stack/mail/new, unless SMTP_HOST (and
# SMTP_PORT, SMTP_USER, ...) are set in the environment: then it goes to that server.
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root=$PWD

readonly gateway_port=8080 auth_port=8081
readonly converter_health_port=8082 notification_health_port=8083
readonly ready_timeout_seconds=60 stop_timeout_seconds=30

say() { echo "[run] $*"; }

# The venv comes first: the stack's SMTP sink (aiosmtpd) and the key generator run from it.
scripts/venv.sh
.venv/bin/python -m auth.keygen .secrets
scripts/stack.sh start

# The services' settings (docs/architecture.md), pointed at the stack. The stack's ports can be
# moved with RABBITMQ_PORT, MONGO_PORT and MYSQL_PORT; the services follow.
export ENVIRONMENT=${ENVIRONMENT:-development}
export LOG_LEVEL=${LOG_LEVEL:-INFO}
export PYTHONUNBUFFERED=1
export AMQP_URL="amqp://guest:guest@127.0.0.1:${RABBITMQ_PORT:-5672}/%2F"
export MONGODB_URI="mongodb://127.0.0.1:${MONGO_PORT:-27017}/"
export MYSQL_HOST=127.0.0.1
export MYSQL_PORT=${MYSQL_PORT:-3306}
export AUTH_URL=http://127.0.0.1:$auth_port
export JWT_PRIVATE_KEY_FILE=$repo_root/.secrets/jwt-private.pem
export DOWNLOAD_LINK_SECRET_FILE=$repo_root/.secrets/download-link.key
# GUNICORN_BIND is for containers (0.0.0.0); here each server binds 127.0.0.1 on its own port.
unset GUNICORN_BIND

if [[ -n ${SMTP_HOST:-} ]]; then
  mail_destination="the SMTP server at $SMTP_HOST:${SMTP_PORT:-1025} (from SMTP_HOST)"
else
  export SMTP_HOST=127.0.0.1
  export SMTP_PORT=${SMTP_PORT:-1025}
  mail_destination="$repo_root/.stack/mail/new (the stack's SMTP catcher, 127.0.0.1:$SMTP_PORT)"
fi

declare -A service_pids=()

# Start one service in the background with its output prefixed by its name. The prefixer ignores
# Ctrl-C so that it still prints the service's last lines while the service shuts down.
start_service() {
  local name=$1
  shift
  "$@" > >(trap '' INT; exec sed -u "s/^/[$name] /") 2>&1 &
  service_pids[$name]=$!
}

any_service_running() {
  local pid
  for pid in "${service_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      return 0
    fi
  done
  return 1
}

# SIGTERM asks each service to finish what it is doing (gunicorn drains its requests, a worker
# finishes or returns its message); whatever is still running after the timeout is killed.
stop_services() {
  trap - INT TERM
  say "stopping auth, gateway, converter and notification (the stack keeps running)"
  local pid
  for pid in "${service_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  local deadline=$((SECONDS + stop_timeout_seconds))
  while any_service_running && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if any_service_running; then
    say "still running after ${stop_timeout_seconds}s; killing them"
    for pid in "${service_pids[@]}"; do
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  wait 2>/dev/null || true
  say "stopped"
}

# Poll until the service answers, giving up early if it has already exited.
wait_until_ready() {
  local name=$1 url=$2
  local pid=${service_pids[$name]}
  local deadline=$((SECONDS + ready_timeout_seconds))
  until curl --silent --fail --max-time 2 --output /dev/null "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$name exited while starting; its log is above"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      say "$name did not answer $url within ${ready_timeout_seconds}s"
      return 1
    fi
    sleep 0.5
  done
}

declare -A ready_urls=(
  [auth]=http://127.0.0.1:$auth_port/readyz
  [gateway]=http://127.0.0.1:$gateway_port/readyz
  [converter]=http://127.0.0.1:$converter_health_port/readyz
  [notification]=http://127.0.0.1:$notification_health_port/readyz
)
readonly service_order=(auth gateway converter notification)

# A previous `make run` still listening would answer the readiness checks for this one.
for name in "${service_order[@]}"; do
  if curl --silent --max-time 2 --output /dev/null "${ready_urls[$name]}"; then
    say "something already answers at ${ready_urls[$name]}: is \`make run\` running elsewhere?"
    exit 1
  fi
done

trap 'stop_services; exit 130' INT
trap 'stop_services; exit 143' TERM

start_service auth env AUTH_PORT=$auth_port \
  .venv/bin/gunicorn -c auth/gunicorn.conf.py auth.wsgi:app
start_service gateway env GATEWAY_PORT=$gateway_port \
  .venv/bin/gunicorn -c gateway/gunicorn.conf.py gateway.wsgi:app
start_service converter env HEALTH_PORT=$converter_health_port \
  .venv/bin/python -m converter
start_service notification env HEALTH_PORT=$notification_health_port \
  .venv/bin/python -m notification

for name in "${service_order[@]}"; do
  if ! wait_until_ready "$name" "${ready_urls[$name]}"; then
    stop_services
    exit 1
  fi
done

say "ready:"
say "  gateway       http://127.0.0.1:$gateway_port   (the public API; try \`make demo\`)"
say "  auth          http://127.0.0.1:$auth_port   (called by the gateway)"
say "  converter     http://127.0.0.1:$converter_health_port/healthz"
say "  notification  http://127.0.0.1:$notification_health_port/healthz"
say "  mail          $mail_destination"
say "Ctrl-C stops these four; \`scripts/stack.sh stop\` stops the stack."

# Stay in the foreground until Ctrl-C, or until a service exits on its own: then the system is
# broken, so stop the rest rather than leave it half running.
exit_status=0
wait -n || exit_status=$?
for name in "${service_order[@]}"; do
  if ! kill -0 "${service_pids[$name]}" 2>/dev/null; then
    say "$name exited (status $exit_status)"
  fi
done
stop_services
exit 1
