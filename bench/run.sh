#!/usr/bin/env bash
# make bench: install what the bench needs, make sure the local stack runs, then run the bench
# (`python -m bench`: bench/__main__.py).
#
# usage: bench/run.sh [--smoke] [--results-dir DIR] [--only FIGURE]... [--keep-work-dir]
#                     [--mongodb-uri URI] [--amqp-url URL]
#
# The bench starts its own copy of the four services (a vhost, a database, keys and an SMTP sink
# of its own) on the running stack, measures, and writes bench/results/ (or DIR). With
# --mongodb-uri or --amqp-url (`make bench MONGODB_URI=... AMQP_URL=...`) the services use those
# servers instead of the bench's own MongoDB-protocol server and the stack's RabbitMQ; the stack
# still serves MySQL. Its Python
# dependencies (bench/requirements.txt) go into the project's .venv; pip runs again only when
# that file changes. wrk, the HTTP load generator, comes from Debian.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
venv=$repo/.venv
stamp=$venv/.bench-requirements.sha256

say() { echo "[bench] $*"; }

# The project's venv first (a no-op when it is up to date).
bash scripts/venv.sh >/dev/null

wanted="$(sha256sum bench/requirements.txt | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
  say "installing bench/requirements.txt into .venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
  # Written last, so an interrupted install is retried next time.
  echo "$wanted" >"$stamp"
fi

if ! command -v wrk >/dev/null; then
  if ((EUID != 0)); then
    say "wrk is missing; install it as root: apt-get install wrk" >&2
    exit 1
  fi
  say "installing wrk (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

# Starts only the servers that are not running yet; prints their status.
scripts/stack.sh start >/dev/null

# exec: Ctrl-C and SIGTERM reach the bench itself, which stops what it started before exiting.
exec "$venv/bin/python" -m bench "$@"
