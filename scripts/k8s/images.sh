#!/usr/bin/env bash
# The images the Kubernetes test runs, none of them from a registry:
#   scripts/k8s/images.sh build     with a Docker daemon of its own (stopped again by its pid), after
#                                   scripts/k8s/tools.sh built pause, coredns and keda: the
#                                   compose test's stand-ins (tests/compose/standins/build.sh), the
#                                   four services on the stand-in Python, and FROM-scratch images of
#                                   the pause process, CoreDNS and KEDA; each saved to a tar file
#   scripts/k8s/images.sh import    the saved images into the cluster's containerd (cluster.sh up),
#                                   each only when it changed since it was last imported
# Docker's data and the tar files are kept in .cache/k8s (git-ignored), so a second build takes
# seconds.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
cache="${K8S_CACHE:-$repo/.cache/k8s}"
BIN="$cache/bin"
saved="$cache/images"
STATE="${K8S_STATE:-/run/mp3-k8s}"
export PATH="$BIN:/usr/local/go/bin:$PATH"

log() { echo "[k8s-images] $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=tests/compose/standins/build.sh
source tests/compose/standins/build.sh

# The images, as the chart and the manifests name them.
readonly SERVICES=(auth gateway converter notification)
readonly APP_TAG=dev
readonly STANDINS=(mp3-standin/python:3.11 mp3-standin/rabbitmq:debian-3.10 mp3-standin/mysql:mariadb-10.11
    mp3-standin/mongo:ferretdb-1 mp3-standin/mailpit:1.22.3)
readonly PAUSE=mp3-standin/pause:1 COREDNS=mp3-standin/coredns:1.13.1 KEDA=mp3-standin/keda:2.21.0

all_images() {
    printf '%s\n' "${STANDINS[@]}" "$PAUSE" "$COREDNS" "$KEDA"
    local service
    for service in "${SERVICES[@]}"; do echo "mp3-converter/$service:$APP_TAG"; done
}

run_dir=""

stop_build_dockerd() {
    stop_dockerd
    if [[ -n $run_dir ]]; then
        # dockerd can leave its default network namespace mounted under its exec root.
        findmnt -rn -o TARGET | { grep "^$run_dir/" || true; } | sort -r | xargs -r umount
        rm -rf "$run_dir"
    fi
    return 0
}

# A daemon for building only: no bridge and no iptables rules, so it changes nothing on the
# machine; the builds use the host's network to reach the Debian mirror and PyPI.
start_build_dockerd() {
    run_dir="$(mktemp -d /run/mp3-k8s-docker.XXXXXX)"
    start_dockerd "$run_dir" --containerd-namespace mp3-k8s-build \
        --bridge=none --iptables=false --ip-forward=false --ip-masq=false
}

# static_image TAG DOCKERFILE_DIR BINARY...: a FROM-scratch image holding the given binaries.
static_image() {
    local tag=$1 dockerfile_dir=$2 context
    shift 2
    context="$(mktemp -d)"
    cp "$dockerfile_dir/Dockerfile" "$@" "$context"
    docker build --quiet --tag "$tag" "$context" >/dev/null
    rm -rf "$context"
}

build() {
    local binary
    for binary in pause coredns keda-operator keda-adapter; do
        [[ -x $BIN/$binary ]] || die "$BIN/$binary is missing: scripts/k8s/tools.sh pause coredns keda"
    done
    trap stop_build_dockerd EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    start_build_dockerd
    local started=$SECONDS
    export STANDIN_BUILD_NETWORK=host
    build_standins
    # The services as compose builds them, on the stand-in Python base; BuildKit for their
    # `RUN --mount`s (Debian's docker CLI has it built in; the docker 28 CLI here has no buildx).
    local service
    for service in "${SERVICES[@]}"; do
        log "building mp3-converter/$service:$APP_TAG"
        DOCKER_BUILDKIT=1 /usr/bin/docker build --quiet --network host \
            --build-arg PYTHON_IMAGE=mp3-standin/python:3.11 \
            --file "$service/Dockerfile" --tag "mp3-converter/$service:$APP_TAG" . >/dev/null
    done
    # From the binaries scripts/k8s/tools.sh built (tests/k8s/run.sh builds them first).
    static_image "$PAUSE" scripts/k8s/images/pause "$BIN/pause"
    # tools.sh links the unversioned names to the pinned builds; cp copies what they point to.
    static_image "$COREDNS" scripts/k8s/images/coredns "$BIN/coredns"
    static_image "$KEDA" scripts/k8s/images/keda "$BIN/keda-operator" "$BIN/keda-adapter"
    log "built in $((SECONDS - started)) s; saving the changed ones"
    mkdir -p "$saved"
    local image id file
    while read -r image; do
        id="$(docker image inspect --format '{{.Id}}' "$image")"
        file="$saved/${image//[\/:]/_}"
        [[ -f $file.tar && "$(cat "$file.id" 2>/dev/null)" == "$id" ]] && continue
        docker save "$image" >"$file.tar.tmp"
        mv "$file.tar.tmp" "$file.tar"
        echo "$id" >"$file.id"
    done < <(all_images)
    stop_build_dockerd
    trap - EXIT
}

import() {
    local ctr=(ctr --address "$STATE/containerd.sock" -n k8s.io) image file started=$SECONDS
    while read -r image; do
        file="$saved/${image//[\/:]/_}"
        [[ -f $file.tar ]] || die "$image was not built: scripts/k8s/images.sh build"
        # containerd's image store is kept between runs: an image whose Docker id is the one
        # imported last time is there already.
        if [[ "$(cat "$file.imported" 2>/dev/null)" == "$(cat "$file.id")" ]] &&
            "${ctr[@]}" images ls -q "name==docker.io/$image" | grep -q .; then
            continue
        fi
        log "importing $image"
        "${ctr[@]}" images import "$file.tar" >/dev/null
        cp "$file.id" "$file.imported"
    done < <(all_images)
    log "images in containerd in $((SECONDS - started)) s"
}

case "${1:-}" in
    build) build ;;
    import) import ;;
    *) echo "usage: $0 build|import" >&2; exit 2 ;;
esac
