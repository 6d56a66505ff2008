# The stand-in images of the third-party services (tests/compose/standins), built on the Docker
# daemon DOCKER_HOST names, and that daemon: sourced by tests/compose/run.sh and
# scripts/k8s/images.sh, from the repository root, after they define `cache` (where the Go builds
# and Docker's data are kept), `log` and `die`. STANDIN_BUILD_NETWORK, when set, is the network
# the builds run on (`host` for a daemon started with --bridge=none).
# shellcheck shell=bash disable=SC2154 # cache comes from the script that sources this
readonly mailpit_module=github.com/axllent/mailpit mailpit_version=v1.22.3
readonly debian_mirror=http://deb.debian.org/debian
readonly dockerd_ready_seconds=60
dockerd_pid=""

# start_dockerd RUN_DIR [DOCKERD OPTION...]: a Docker daemon of the caller's own, its sockets
# under RUN_DIR (short: a socket path has a length limit), its data in $cache/docker; returns
# once it answers, with DOCKER_HOST pointing at it and its pid in dockerd_pid.
start_dockerd() {
    local run_dir=$1
    shift
    mkdir -p "$cache/docker"
    log "starting a Docker daemon of its own (data in $cache/docker)"
    dockerd --data-root "$cache/docker" --exec-root "$run_dir/exec" --pidfile "$run_dir/dockerd.pid" \
        --host "unix://$run_dir/docker.sock" --storage-driver overlay2 "$@" >"$cache/dockerd.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST="unix://$run_dir/docker.sock"
    local deadline=$((SECONDS + dockerd_ready_seconds))
    until docker info >/dev/null 2>&1; do
        kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$cache/dockerd.log" >&2; die "dockerd exited"; }
        ((SECONDS < deadline)) || die "dockerd did not answer within ${dockerd_ready_seconds}s"
        sleep 0.5
    done
}

# stop_dockerd: the daemon start_dockerd started, by its pid: 30 s to stop, then SIGKILL.
stop_dockerd() {
    [[ -n $dockerd_pid ]] && kill -0 "$dockerd_pid" 2>/dev/null || return 0
    log "stopping the Docker daemon it started (pid $dockerd_pid)"
    kill -TERM "$dockerd_pid"
    for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    dockerd_pid=""
}

# A Go module's main package built once into the cache: `go install` refuses compose (its go.mod
# has an `exclude`), so the module is downloaded and built where it lies, in a writable copy.
build_go_tool() {
    local module=$1 version=$2 package=$3 target=$4
    [[ -x $target ]] && return
    log "building $module@$version from the Go module proxy (first time: a few minutes)"
    local source work
    source="$(go mod download -json "$module@$version" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
    work="$(mktemp -d)"
    cp -r "$source/." "$work"
    chmod -R u+w "$work"
    mkdir -p "$(dirname "$target")"
    (cd "$work" && go build -trimpath -o "$target.new" "$package")
    mv "$target.new" "$target"
    rm -rf "$work"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The base of every stand-in: Debian bookworm from debootstrap, as no registry serves an image.
build_base_image() {
    image_exists mp3-standin/debian:bookworm && return
    log "building mp3-standin/debian:bookworm with debootstrap"
    local rootfs
    rootfs="$(mktemp -d)"
    debootstrap --variant=minbase bookworm "$rootfs" "$debian_mirror" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - mp3-standin/debian:bookworm >/dev/null
    rm -rf "$rootfs"
}

# docker build of one stand-in, with extra files copied into its context first. Every run: an
# unchanged stand-in comes from the layer cache in a second, a changed one is rebuilt.
build_standin() {
    local name=$1 tag=$2
    shift 2
    log "building $tag"
    local context
    context="$(mktemp -d)"
    cp -r "tests/compose/standins/$name/." "$context"
    (($#)) && cp "$@" "$context"
    # The legacy builder is enough for these (no BuildKit syntax); its deprecation notice is not.
    docker build --quiet ${STANDIN_BUILD_NETWORK:+--network "$STANDIN_BUILD_NETWORK"} --tag "$tag" "$context" \
        >"$cache/build.log" 2>&1 || { cat "$cache/build.log" >&2; exit 1; }
    rm -rf "$context"
}

build_standins() {
    build_base_image
    build_standin python mp3-standin/python:3.11 /etc/ssl/certs/ca-certificates.crt
    build_standin rabbitmq mp3-standin/rabbitmq:debian-3.10
    build_standin prometheus mp3-standin/prometheus:debian-2.42
    build_standin mysql mp3-standin/mysql:mariadb-10.11
    # FerretDB as the local stack builds it (scripts/stack.sh), in .bin/ferretdb.
    scripts/stack.sh build-ferretdb
    build_standin mongo mp3-standin/mongo:ferretdb-1 .bin/ferretdb
    build_go_tool "$mailpit_module" "$mailpit_version" . "$cache/bin/mailpit"
    build_standin mailpit mp3-standin/mailpit:1.22.3 "$cache/bin/mailpit"
}
