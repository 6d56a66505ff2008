#!/usr/bin/env bash
# The local stack the services and the tests run against: RabbitMQ, MariaDB, a MongoDB-protocol
# server (mongod if installed, else FerretDB on SQLite) and an SMTP sink writing to a Maildir,
# as plain processes (this machine has no Docker engine) supervised by supervisord.
#
# usage: scripts/stack.sh start|stop [SERVER...]   SERVER: rabbitmq mysql mongo smtp (default: all)
#        scripts/stack.sh status                  exits non-zero unless every server answers
#        scripts/stack.sh deps                    install the Debian packages this machine lacks
#        scripts/stack.sh build-ferretdb          build .bin/ferretdb if missing (the compose test's stand-in)
#        scripts/stack.sh rabbitmqctl ARGS...     rabbitmqctl against the stack's node
#        scripts/stack.sh mysql ARGS...           the mariadb client, as root, on the stack's socket
#
# This script does what has to happen before Python can: the Debian packages, the venv and the
# FerretDB build. Everything else is harness/stack.py (`python -m harness.stack`), which writes
# supervisord's config and waits for each server; the ports come from the variables it and the
# tests read: RABBITMQ_PORT, MYSQL_PORT, MONGO_PORT, SMTP_PORT, RABBITMQ_PROMETHEUS_PORT.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
ferretdb_src="$repo/tools/ferretdb"
ferretdb_bin="$repo/.bin/ferretdb"

log() { echo "stack: $*"; }
die() { echo "stack: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# System packages
# ---------------------------------------------------------------------------------------------

# Prints the Debian packages this machine lacks, one a line.
missing_packages() {
    [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || echo rabbitmq-server
    command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null ||
        echo mariadb-server
    command -v mariadb >/dev/null || echo mariadb-client
    command -v ffmpeg >/dev/null || echo ffmpeg
    # mysqlclient (in the venv) is compiled against Connector/C, found with pkg-config.
    command -v pkg-config >/dev/null || echo pkg-config
    pkg-config --exists libmariadb 2>/dev/null || echo libmariadb-dev
    command -v cc >/dev/null || echo gcc
    # setpriv: the servers die with supervisord (harness/stack.py); pgrep spots Debian's own servers.
    command -v setpriv >/dev/null || echo util-linux
    command -v pgrep >/dev/null || echo procps
    # `make lint` checks the shell scripts with it.
    command -v shellcheck >/dev/null || echo shellcheck
    # Debian's own python3 ships venv and its C headers as separate packages; a python3 built
    # elsewhere (pyenv, /usr/local) has both.
    if [[ "$(command -v python3)" == /usr/bin/python3 ]]; then
        dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'ok installed' ||
            echo python3-venv
        python3 -c 'import os, sysconfig; exit(not os.path.exists(sysconfig.get_path("include") + "/Python.h"))' ||
            echo python3-dev
    fi
    return 0
}

# Debian would start its own RabbitMQ and MariaDB on the default ports, as their own users;
# say so, since they would collide with ours.
warn_about_debian_services() {
    local user service
    for user in rabbitmq mysql; do
        if id "$user" >/dev/null 2>&1 && pgrep -u "$user" >/dev/null 2>&1; then
            case "$user" in
                rabbitmq) service=rabbitmq-server ;;
                mysql) service=mariadb ;;
            esac
            log "warning: Debian's own $service is running (processes of user '$user'):"
            ps -o pid,args -u "$user" | sed 's/^/    /'
            log "it may hold the ports this stack needs; stop it with: service $service stop"
        fi
    done
}

cmd_deps() {
    local missing
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]})); then
        if ((EUID != 0)); then
            die "missing system packages: ${missing[*]}
install them as root: apt-get install ${missing[*]}"
        fi
        log "installing: ${missing[*]}"
        # policy-rc.d answering 101 ("not allowed") stops the packages' maintainer scripts from
        # starting Debian's own RabbitMQ and MariaDB on the ports this stack uses.
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "${missing[@]}"
    fi
    if ! command -v mongod >/dev/null && ! find_go >/dev/null; then
        die "neither mongod nor Go (1.24 or newer, to build FerretDB) is installed"
    fi
    warn_about_debian_services
}

# ---------------------------------------------------------------------------------------------
# FerretDB: the MongoDB-protocol server when there is no mongod (Debian packages none)
# ---------------------------------------------------------------------------------------------

find_go() {
    command -v go || { [[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go; }
}

ferretdb_source_hash() {
    (cd "$ferretdb_src" && sha256sum main.go go.mod go.sum) | sha256sum | cut -d' ' -f1
}

# Rebuilt only when the source changes. A hash of it, not file times: a fresh clone gives
# every file a new time. In .bin/, not .stack/, so that `rm -rf .stack` keeps it.
build_ferretdb() {
    local wanted go
    wanted="$(ferretdb_source_hash)"
    if [[ -x "$ferretdb_bin" && "$(cat "$ferretdb_bin.sha256" 2>/dev/null)" == "$wanted" ]]; then
        return 0
    fi
    go="$(find_go)" || die "Go is needed to build FerretDB (tools/ferretdb), and was not found"
    log "mongo: building FerretDB into .bin/ferretdb (first time: a few minutes)"
    mkdir -p "$(dirname "$ferretdb_bin")"
    # -buildvcs=false: stamping the binary with git metadata needs git and a trusted checkout.
    (cd "$ferretdb_src" && "$go" build -trimpath -buildvcs=false -o "$ferretdb_bin.new" .) ||
        die "building FerretDB failed (see the Go output above)"
    mv "$ferretdb_bin.new" "$ferretdb_bin"
    echo "$wanted" >"$ferretdb_bin.sha256"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

harness() {
    cd "$repo" && exec "$venv/bin/python" -m harness.stack "$@"
}

main() {
    local command="${1:-}"
    (($#)) && shift
    case "$command" in
        start)
            cmd_deps
            # supervisord, the SMTP sink and the readiness checks run from the venv (a no-op
            # when it is up to date).
            bash "$repo/scripts/venv.sh"
            command -v mongod >/dev/null || build_ferretdb
            harness start "$@"
            ;;
        stop | status)
            # Without a venv there is no supervisord, so nothing can be running.
            if [[ ! -x "$venv/bin/python" ]]; then
                log "no .venv: the stack has never been started here"
                [[ "$command" == stop ]]
                return
            fi
            harness "$command" "$@"
            ;;
        rabbitmqctl | mysql) harness "$command" "$@" ;;
        deps) cmd_deps ;;
        build-ferretdb) build_ferretdb ;;
        *)
            echo "usage: $0 start|stop [SERVER...] | status | deps | build-ferretdb | rabbitmqctl ARGS... | mysql ARGS..." >&2
            exit 2
            ;;
    esac
}

main "$@"
