#!/usr/bin/env bash
# make compose-test: `docker compose up` proven on this machine, as a self-hoster runs it.
#
# Installs what is missing (Docker Engine and debootstrap from Debian), starts a Docker daemon of
# its own when none answers (and stops it, and restores the iptables rules and the docker0 bridge
# as they were, however the run ends), builds the compose v2 plugin from the Go module proxy
# when no `docker compose` is installed, builds stand-in images for the third-party services
# (tests/compose/standins, named as stand-ins), and then runs tests/compose with pytest: the
# stack up and healthy (with the observability profile's Prometheus), the README's flow, the
# metrics in Prometheus, a converter killed mid-conversion, a restart of the whole stack, and
# `down -v`.
#
# Big builds are kept in .cache/compose-test (git-ignored): Docker's data root with its images
# and build cache, the compose plugin, Mailpit. A second run reuses them.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
cache="$repo/.cache/compose-test"
readonly compose_module=github.com/docker/compose/v2 compose_version=v2.40.3
# Go may be installed outside PATH (as on these machines, in /usr/local/go).
[[ -x /usr/local/go/bin/go ]] && PATH=$PATH:/usr/local/go/bin

log() { echo "[compose-test] $*"; }
die() { log "$*" >&2; exit 1; }
# build_go_tool, build_standins, start_dockerd and stop_dockerd, shared with the Kubernetes test
# (scripts/k8s/images.sh).
# shellcheck source=tests/compose/standins/build.sh
source tests/compose/standins/build.sh

run_dir=""
pytest_pid=""

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v iptables-save >/dev/null || missing+=(iptables)
    ((${#missing[@]} == 0)) && return
    log "installing ${missing[*]} (apt)"
    apt-get update -qq
    # RUNLEVEL=1: the packages' scripts do not try to start a daemon of their own.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

bridges() { ip -o link show type bridge | awk -F': ' '{print $2}' | sort; }

# Put one iptables family back as it was: iptables-restore rewrites only the tables in its input,
# and a table that was empty before (all a fresh machine has) is not in it, so those are reset.
restore_rules() {
    local tool=$1 saved=$2 table chain
    for table in filter nat mangle raw; do
        grep -q "^\*$table" "$saved" && continue
        "$tool" -t "$table" -F 2>/dev/null || continue
        "$tool" -t "$table" -X
        for chain in $("$tool" -t "$table" -S | awk '$1 == "-P" {print $2}'); do
            "$tool" -t "$table" -P "$chain" ACCEPT
        done
    done
    "$tool-restore" <"$saved"
}

# Everything this script changed on the machine is undone here, on any exit.
cleanup() {
    local status=$?
    set +e
    if [[ -n $pytest_pid ]] && kill -0 "$pytest_pid" 2>/dev/null; then
        kill -TERM "$pytest_pid"
        wait "$pytest_pid"
    fi
    if [[ -n $dockerd_pid ]]; then
        # The test's own project only; a daemon that was already running keeps everything else.
        docker compose --project-name mp3-compose-test --profile observability -f docker-compose.yml \
            -f tests/compose/docker-compose.standins.yml down --volumes --remove-orphans >/dev/null 2>&1
        stop_dockerd
        local bridge
        for bridge in $(comm -13 "$run_dir/bridges.before" <(bridges)); do
            ip link delete "$bridge"
        done
        restore_rules iptables "$run_dir/iptables.before"
        restore_rules ip6tables "$run_dir/ip6tables.before" 2>/dev/null
    fi
    [[ -n $run_dir ]] && rm -rf "$run_dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A daemon of its own, with its bridge and iptables rules (compose's networks need them): what
# the machine had before is saved first, for cleanup to put back.
start_own_dockerd() {
    if docker info >/dev/null 2>&1; then
        log "using the Docker daemon that is already running"
        return
    fi
    run_dir="$(mktemp -d /run/mp3-compose-test.XXXXXX)"
    iptables-save >"$run_dir/iptables.before"
    ip6tables-save >"$run_dir/ip6tables.before" 2>/dev/null || true
    bridges >"$run_dir/bridges.before"
    start_dockerd "$run_dir"
}

ensure_compose() {
    if docker compose version >/dev/null 2>&1; then
        return
    fi
    export DOCKER_CONFIG="$cache/docker-config"
    build_go_tool "$compose_module" "$compose_version" ./cmd "$DOCKER_CONFIG/cli-plugins/docker-compose"
    docker compose version >/dev/null || die "the compose plugin does not run"
}

install_packages
scripts/venv.sh
start_own_dockerd
ensure_compose
build_standins
log "running tests/compose"
# In the background and waited for: a signal to this script then reaches the trap at once,
# which stops pytest and undoes the rest, instead of waiting for pytest to end.
.venv/bin/pytest -q tests/compose -p no:cacheprovider "$@" &
pytest_pid=$!
wait "$pytest_pid"
log "images built for this run (on the stand-in Python base):"
docker image ls --format '  {{.Repository}}:{{.Tag}} {{.Size}}' 'mp3-converter/*'
