#!/usr/bin/env bash
# make run: the whole system as local processes, without Docker.
# Makes sure the virtualenv and the secrets exist, starts the local stack (MongoDB, RabbitMQ,
# MariaDB, an SMTP catcher), then runs the Procfile's four services in the foreground with
# honcho, each log line prefixed with its service's name. Ctrl-C stops the four (honcho sends
# SIGTERM, and SIGKILL to what is left after 5 s); the stack keeps running for the next
# `make run` (`scripts/stack.sh stop` ends it). When one service exits, honcho stops the rest.
#
# Mail goes to the stack's SMTP catcher and lands in .stack/mail/new, unless SMTP_HOST (and
# SMTP_PORT, SMTP_USER, ...) are set in the environment: then it goes to that server.
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root=$PWD

say() { echo "[run] $*"; }

# The venv comes first: the stack's SMTP sink (aiosmtpd), the key generator and honcho run from it.
scripts/venv.sh
.venv/bin/python -m auth.keygen .secrets
scripts/stack.sh start

# The services' settings (docs/architecture.md), pointed at the stack: AMQP_URL, MONGODB_URI,
# MYSQL_HOST, MYSQL_PORT and SMTP_PORT come from harness/stack.py, the one place the stack's
# ports (RABBITMQ_PORT, MONGO_PORT, MYSQL_PORT, SMTP_PORT) are read. The services' own ports are
# their defaults: gateway 8080, auth 8081, converter 8082, notification 8083.
stack_environment=$(.venv/bin/python -m harness.stack env)
while IFS= read -r assignment; do
  export "${assignment?}"
done <<<"$stack_environment"
export ENVIRONMENT=${ENVIRONMENT:-development}
export LOG_LEVEL=${LOG_LEVEL:-INFO}
export PYTHONUNBUFFERED=1
export JWT_PRIVATE_KEY_FILE=$repo_root/.secrets/jwt-private.pem
export DOWNLOAD_LINK_SECRET_FILE=$repo_root/.secrets/download-link.key
export SMTP_HOST=${SMTP_HOST:-127.0.0.1}
# GUNICORN_BIND is for containers (0.0.0.0), and one HEALTH_PORT for both workers would clash.
unset GUNICORN_BIND HEALTH_PORT

# A previous `make run` still listening would take these ports first.
for port in 8080 8081 8082 8083; do
  if curl --silent --max-time 2 --output /dev/null "http://127.0.0.1:$port/healthz"; then
    say "something already answers on 127.0.0.1:$port: is \`make run\` running elsewhere?"
    exit 1
  fi
done

# shellcheck disable=SC2153 # SMTP_PORT is not a misspelling of SMTP_HOST: the loop above exports it.
say "gateway http://127.0.0.1:8080 (the public API; try \`make demo\`), mail to $SMTP_HOST:$SMTP_PORT"
say "Ctrl-C stops the four services; \`scripts/stack.sh stop\` stops the stack."
PATH=$repo_root/.venv/bin:$PATH exec honcho --procfile Procfile start
