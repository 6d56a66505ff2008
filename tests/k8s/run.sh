#!/usr/bin/env bash
# make k8s-test: the Helm chart installed on a real single-node cluster on this machine.
#
# Installs what is missing (Debian: containerd and runc with docker.io, the CNI plugins, etcd,
# iptables, conntrack, debootstrap), builds Kubernetes, helm, CoreDNS and KEDA from the Go module
# proxy (scripts/k8s/tools.sh; cached in .cache/k8s), builds the images with a Docker daemon of
# its own (scripts/k8s/images.sh), brings the cluster up (scripts/k8s/cluster.sh), loads the
# images into its containerd, installs KEDA, and runs tests/k8s/cluster with pytest: the chart in
# dev mode with --wait, helm test, the README's flow through a port-forward, 20 uploads scaling
# the converters up and down again, a converter pod deleted mid-conversion, a helm upgrade
# during a conversion, helm uninstall. Then the cluster comes down, however the run ended, and
# the script checks that no process, interface, iptables chain or cgroup of it is left.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
export K8S_STATE=/run/mp3-k8s
# The built binaries, images and Docker data (scripts/k8s/*.sh read it too): K8S_CACHE may point
# a fresh clone at another checkout's, so it does not build them again.
export K8S_CACHE="${K8S_CACHE:-$repo/.cache/k8s}"
export PATH="$K8S_CACHE/bin:/usr/local/go/bin:$PATH"
export KUBECONFIG="$K8S_STATE/admin.kubeconfig"

log() { echo "[k8s-test] $(date -u +%H:%M:%S) $*"; }
die() { log "$*" >&2; exit 1; }

install_packages() {
    local missing=() package command
    for package in docker.io:dockerd containerd:containerd runc:runc containernetworking-plugins:/usr/lib/cni/bridge \
        etcd-server:etcd iptables:iptables-save conntrack:conntrack debootstrap:debootstrap openssl:openssl; do
        command=${package#*:}
        command -v "$command" >/dev/null || [[ -x $command ]] || missing+=("${package%%:*}")
    done
    ((${#missing[@]} == 0)) && return
    log "installing ${missing[*]} (apt)"
    apt-get update -qq
    # RUNLEVEL=1: the packages' scripts do not start daemons of their own.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What must be gone once the cluster is down: a leftover is a failure of the test.
check_nothing_left() {
    local left=()
    [[ -e $K8S_STATE ]] && left+=("state directory $K8S_STATE")
    ip link show mp3k8s0 >/dev/null 2>&1 && left+=("interface mp3k8s0")
    ip link show mp3cni0 >/dev/null 2>&1 && left+=("interface mp3cni0")
    iptables-save | grep -qE '^:(KUBE|CNI)-' && left+=("iptables chains: $(iptables-save | grep -E '^:(KUBE|CNI)-' | cut -d' ' -f1 | tr '\n' ' ')")
    ip6tables-save 2>/dev/null | grep -qE '^:(KUBE|CNI)-' && left+=("ip6tables chains")
    compgen -G '/sys/fs/cgroup/*/mp3k8s' >/dev/null && left+=("cgroups /sys/fs/cgroup/*/mp3k8s")
    findmnt -rn -o TARGET | grep -q "^$K8S_STATE" && left+=("mounts under $K8S_STATE")
    local pid_file
    for pid_file in "$K8S_CACHE"/last-run-pids/*; do
        [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null && left+=("process $(basename "$pid_file") ($(cat "$pid_file"))")
    done
    if ((${#left[@]})); then
        log "left behind: ${left[*]}" >&2
        return 1
    fi
    log "nothing left behind: no process, interface, iptables chain, cgroup or mount of the cluster"
}

pytest_pid=""
cluster_started=""
cleanup() {
    local status=$?
    set +e
    if [[ -n $pytest_pid ]] && kill -0 "$pytest_pid" 2>/dev/null; then
        kill -TERM "$pytest_pid"
        wait "$pytest_pid"
    fi
    if [[ -n $cluster_started ]]; then
        # The daemons' pids, to prove after `down` that none of them still runs.
        rm -rf "$K8S_CACHE/last-run-pids"
        mkdir -p "$K8S_CACHE/last-run-pids"
        cp "$K8S_STATE"/*.pid "$K8S_CACHE/last-run-pids/" 2>/dev/null
        local started=$SECONDS
        scripts/k8s/cluster.sh down
        log "teardown took $((SECONDS - started)) s"
        check_nothing_left || status=1
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# KEDA as its own `config/minimal` kustomization installs it (CRDs, operator, metrics adapter, no
# admission webhooks), on the image built here.
install_keda() {
    # The source tree scripts/k8s/tools.sh built KEDA from (KEDA_VERSION there). Its images are
    # tagged :main there; whatever the tag, they become the one built here.
    kubectl kustomize "$K8S_CACHE/src/keda-v2.21.0/config/minimal" |
        sed -e 's#image: ghcr.io/kedacore/keda:[^[:space:]]*#image: mp3-standin/keda:2.21.0#' \
            -e 's#image: ghcr.io/kedacore/keda-metrics-apiserver:[^[:space:]]*#image: mp3-standin/keda:2.21.0#' \
            -e 's#- /keda$#- /keda-operator#' \
            -e 's#imagePullPolicy: Always#imagePullPolicy: Never#' |
        kubectl apply --server-side -f - >/dev/null
    kubectl -n keda rollout status deployment/keda-operator --timeout=300s >/dev/null
    kubectl -n keda rollout status deployment/keda-metrics-apiserver --timeout=300s >/dev/null
    kubectl wait --for=condition=Available apiservice/v1beta1.external.metrics.k8s.io --timeout=300s >/dev/null
}

total_started=$SECONDS
install_packages
scripts/venv.sh
step=$SECONDS
scripts/k8s/tools.sh helm kubernetes pause coredns keda
log "Kubernetes, helm, CoreDNS and KEDA binaries ready in $((SECONDS - step)) s"
step=$SECONDS
scripts/k8s/images.sh build
log "images ready in $((SECONDS - step)) s"
step=$SECONDS
cluster_started=yes
scripts/k8s/cluster.sh up
log "cluster up with the images in $((SECONDS - step)) s"
step=$SECONDS
install_keda
log "KEDA installed in $((SECONDS - step)) s"
step=$SECONDS
log "running tests/k8s/cluster"
# In the background and waited for: a signal to this script then reaches the trap at once.
.venv/bin/pytest -q -rP tests/k8s/cluster -p no:cacheprovider "$@" &
pytest_pid=$!
wait "$pytest_pid"
pytest_pid=""
log "the chart's tests took $((SECONDS - step)) s; $((SECONDS - total_started)) s so far"
