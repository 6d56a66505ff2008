#!/usr/bin/env bash
# Install promtool, from Debian's prometheus package, when it is missing: `make test` checks the
# alerting rules and the dashboard's queries with it (tests/deploy). Run as root, like
# `scripts/stack.sh deps`.
set -euo pipefail

command -v promtool >/dev/null && exit 0
if [[ $EUID -ne 0 ]]; then
    echo "promtool: missing; install Debian's prometheus package (as root: scripts/promtool.sh)" >&2
    exit 1
fi
echo "promtool: installing Debian's prometheus package (apt)"
apt-get update -qq
# RUNLEVEL=1: the package's scripts do not start a Prometheus server of their own; only its
# promtool is wanted here.
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null
