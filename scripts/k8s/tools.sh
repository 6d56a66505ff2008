#!/usr/bin/env bash
# Builds the tools the chart's checks and the local cluster need, from the Go module proxy, into
# .cache/k8s/bin (git-ignored). Each tool is built once; a second run finds it and returns at once.
#   scripts/k8s/tools.sh helm schemas              what `make test` needs (no cluster)
#   scripts/k8s/tools.sh cluster                   kube-*, kubelet, kubectl, coredns, pause, keda
# The versions are pinned here and nowhere else; the binaries carry the version in their file name so
# a bump rebuilds instead of reusing an old binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${K8S_CACHE:-$ROOT/.cache/k8s}"
BIN="$CACHE/bin"
SRC="$CACHE/src"

KUBERNETES_VERSION=v1.34.4
# The staging modules (k8s.io/api, k8s.io/client-go, ...) are published as v0.<minor>.<patch>.
KUBERNETES_STAGING_VERSION=v0.34.4
HELM_VERSION=v3.19.5
COREDNS_VERSION=v1.13.1
KEDA_VERSION=v2.21.0

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
mkdir -p "$BIN" "$SRC"

log() { printf 'k8s-tools: %s\n' "$*" >&2; }

# go_install PACKAGE@VERSION NAME: `go install` into a scratch GOBIN, then move to BIN/NAME.
go_install() {
    local target="$1" name="$2"
    [[ -x "$BIN/$name" ]] && return 0
    log "building $name from $target"
    local started=$SECONDS gobin
    gobin="$(mktemp -d "$CACHE/gobin.XXXX")"
    GOBIN="$gobin" go install -trimpath -ldflags "-s -w" "$target"
    mv "$gobin"/* "$BIN/$name"
    rmdir "$gobin"
    log "built $name in $((SECONDS - started)) s"
}

build_helm() { go_install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "helm-$HELM_VERSION"; ln -sfn "helm-$HELM_VERSION" "$BIN/helm"; }

# `go install k8s.io/kubernetes/cmd/...@v` is refused (the module's go.mod has replace directives),
# so a go.mod of our own requires k8s.io/kubernetes and points each staging module at its
# published version, which is what those replace directives stand for.
build_kubernetes() {
    local commands=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
    local missing=() command
    for command in "${commands[@]}"; do
        [[ -x "$BIN/$command-$KUBERNETES_VERSION" ]] || missing+=("$command")
    done
    if ((${#missing[@]})); then
        local module="$SRC/kubernetes-$KUBERNETES_VERSION"
        mkdir -p "$module"
        if [[ ! -f "$module/go.sum" ]]; then
            log "resolving k8s.io/kubernetes $KUBERNETES_VERSION"
            local upstream_mod
            upstream_mod="$(cd "$module" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
                sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
            {
                echo "module local/kubernetes-build"
                echo
                echo "go 1.24"
                echo
                echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
                echo
                sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"$KUBERNETES_STAGING_VERSION"'#p' "$upstream_mod"
            } >"$module/go.mod"
            printf 'package tools\n\nimport (\n' >"$module/tools.go"
            for command in "${commands[@]}"; do
                printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$command" >>"$module/tools.go"
            done
            printf ')\n' >>"$module/tools.go"
            sed -i '1i //go:build tools\n' "$module/tools.go"
            # tidy sees every build tag but "ignore", so the tools.go imports pin the whole graph.
            (cd "$module" && go mod tidy)
        fi
        # One `go build` for all of them: each package they share is compiled once, and the links
        # run side by side.
        log "building ${missing[*]} $KUBERNETES_VERSION"
        local started=$SECONDS out="$CACHE/kubernetes-build.tmp"
        rm -rf "$out"
        mkdir -p "$out"
        (cd "$module" && go build -trimpath \
            -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION" \
            -o "$out/" "${missing[@]/#/k8s.io/kubernetes/cmd/}")
        for command in "${missing[@]}"; do
            mv "$out/$command" "$BIN/$command-$KUBERNETES_VERSION"
        done
        rmdir "$out"
        log "built ${missing[*]} in $((SECONDS - started)) s"
    fi
    for command in "${commands[@]}"; do
        ln -sfn "$command-$KUBERNETES_VERSION" "$BIN/$command"
    done
}

# KEDA's go.mod has replace directives, so `go install` refuses it too: its two commands are
# built where the module lies, in a writable copy. The CRDs come from the same copy.
build_keda() {
    local module="$SRC/keda-$KEDA_VERSION" command lock
    # One build at a time: a second caller waits for the first and then finds the binaries.
    exec {lock}>"$CACHE/keda.lock"
    flock "$lock"
    if [[ ! -d "$module" ]]; then
        local downloaded
        downloaded="$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" |
            sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
        cp -r "$downloaded" "$module.tmp"
        chmod -R u+w "$module.tmp"
        mv "$module.tmp" "$module"
    fi
    for command in operator adapter; do
        ln -sfn "keda-$command-$KEDA_VERSION" "$BIN/keda-$command"
        [[ -x "$BIN/keda-$command-$KEDA_VERSION" ]] && continue
        log "building keda $command $KEDA_VERSION"
        local started=$SECONDS
        (cd "$module" && go build -trimpath \
            -ldflags "-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION" \
            -o "$BIN/keda-$command-$KEDA_VERSION.tmp" "./cmd/$command")
        mv "$BIN/keda-$command-$KEDA_VERSION.tmp" "$BIN/keda-$command-$KEDA_VERSION"
        log "built keda $command in $((SECONDS - started)) s"
    done
}

# CoreDNS from scripts/k8s/coredns/main.go (only the plugins our Corefile uses), and the pod
# sandbox's pause process from scripts/k8s/pause: both are static binaries for FROM-scratch images.
build_coredns() {
    ln -sfn "coredns-$COREDNS_VERSION" "$BIN/coredns"
    [[ -x "$BIN/coredns-$COREDNS_VERSION" ]] && return 0
    local module="$SRC/coredns-$COREDNS_VERSION"
    mkdir -p "$module"
    cp "$ROOT/scripts/k8s/coredns/main.go" "$module/main.go"
    if [[ ! -f "$module/go.mod" ]]; then
        (cd "$module" && go mod init local/coredns >/dev/null 2>&1 &&
            go get "github.com/coredns/coredns@$COREDNS_VERSION" >/dev/null && go mod tidy)
    fi
    log "building coredns $COREDNS_VERSION"
    local started=$SECONDS
    (cd "$module" && go build -trimpath -ldflags "-s -w" -o "$BIN/coredns-$COREDNS_VERSION.tmp" .)
    mv "$BIN/coredns-$COREDNS_VERSION.tmp" "$BIN/coredns-$COREDNS_VERSION"
    log "built coredns in $((SECONDS - started)) s"
}

build_pause() {
    local source="$ROOT/scripts/k8s/pause/main.go" target="$BIN/pause"
    [[ -x $target && $target -nt $source ]] && return 0
    (cd "$(dirname "$source")" && GO111MODULE=off go build -trimpath -ldflags "-s -w" -o "$target.tmp" main.go)
    mv "$target.tmp" "$target"
}

# The API schemas `make test` checks the chart's rendered manifests against (tests/k8s): the
# OpenAPI document of the same Kubernetes version the cluster runs, and the CRDs of the KEDA
# version it installs, both from the modules the Go module proxy serves (no cluster needed).
fetch_schemas() {
    local schemas="$CACHE/schemas" dir
    [[ -f "$schemas/kubernetes-$KUBERNETES_VERSION.json" && -d "$schemas/keda-$KEDA_VERSION" ]] && return 0
    mkdir -p "$schemas"
    dir="$(cd "$schemas" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
        sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    cp "$dir/api/openapi-spec/swagger.json" "$schemas/kubernetes-$KUBERNETES_VERSION.json.tmp"
    mv "$schemas/kubernetes-$KUBERNETES_VERSION.json.tmp" "$schemas/kubernetes-$KUBERNETES_VERSION.json"
    dir="$(cd "$schemas" && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" |
        sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    rm -rf "$schemas/keda-$KEDA_VERSION.tmp"
    cp -r "$dir/config/crd/bases" "$schemas/keda-$KEDA_VERSION.tmp"
    chmod -R u+w "$schemas/keda-$KEDA_VERSION.tmp"
    mv "$schemas/keda-$KEDA_VERSION.tmp" "$schemas/keda-$KEDA_VERSION"
}

for tool in "$@"; do
    case "$tool" in
        helm) build_helm ;;
        kubernetes) build_kubernetes ;;
        keda) build_keda ;;
        schemas) fetch_schemas ;;
        coredns) build_coredns ;;
        pause) build_pause ;;
        cluster) build_kubernetes; build_coredns; build_pause; build_keda ;;
        *) echo "k8s-tools: unknown tool '$tool'" >&2; exit 2 ;;
    esac
done
