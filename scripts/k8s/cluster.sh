#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, from binaries built out of the Go module proxy
# (scripts/k8s/tools.sh) and Debian's containerd, runc, CNI plugins and etcd; no image registry is
# needed (docs/architecture.md, "Kubernetes"; the recipe is in the README's Kubernetes section).
#
#   scripts/k8s/cluster.sh up      start etcd, containerd, the control plane, the kubelet,
#                                  kube-proxy and CoreDNS; prints the KUBECONFIG to use
#   scripts/k8s/cluster.sh down    stop all of it, by pid, and remove everything it added
#
# What it adds to the machine, and `down` removes: a veth pair carrying the node's address
# (10.200.0.1/24: private, on this machine only), the CNI bridge for the pods (10.244.0.0/24), the
# services' range (10.96.0.0/16, in kube-proxy's iptables rules only), iptables chains named KUBE-*
# and CNI-* and the rules jumping to them, the cgroups under /mp3k8s, the pods' network namespaces
# and mounts, and the sysctls the kubelet changes (ip_forward included), which go back as they
# were. The API server and the kubelet listen on the veth's address; everything else on 127.0.0.1.
# Nothing is routed off the machine: pods reach only each other, the node and the services.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${K8S_CACHE:-$ROOT/.cache/k8s}"
BIN="$CACHE/bin"
# The per-run state: certificates, kubeconfigs, etcd's data, pids, logs. Its path is short
# because containerd's sockets live under it and a socket path has a length limit.
STATE="${K8S_STATE:-/run/mp3-k8s}"
# containerd's image store outlives a run, so the second run imports only changed images.
CONTAINERD_ROOT="$CACHE/containerd"

readonly NODE_IP=10.200.0.1 NODE_PEER_IP=10.200.0.2 NODE_PREFIX=24
readonly NODE_LINK=mp3k8s0 NODE_PEER_LINK=mp3k8s1 CNI_BRIDGE=mp3cni0
readonly POD_CIDR=10.244.0.0/24 SERVICE_CIDR=10.96.0.0/16
readonly KUBERNETES_SERVICE_IP=10.96.0.1 DNS_SERVICE_IP=10.96.0.10
readonly API_PORT=6443 ETCD_PORT=23790 ETCD_PEER_PORT=23800
readonly CGROUP_ROOT=mp3k8s
readonly NODE_NAME=mp3-k8s-node
readonly PAUSE_IMAGE=mp3-standin/pause:1
# What the kubelet sets at start-up (its "kernel tunables") and kube-proxy needs: saved, then
# put back by `down`.
readonly SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.bridge.bridge-nf-call-iptables)
readonly READY_SECONDS=120

export PATH="$BIN:/usr/local/go/bin:$PATH"
export KUBECONFIG="$STATE/admin.kubeconfig"

log() { printf '[k8s] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# wait_for SECONDS WHAT COMMAND...: run COMMAND until it succeeds.
wait_for() {
    local seconds=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what: not ready within ${seconds}s"
        sleep 0.5
    done
}

# start NAME COMMAND...: a daemon in the background, its pid in STATE/NAME.pid, its log in STATE/NAME.log.
start() {
    local name=$1
    shift
    "$@" >"$STATE/$name.log" 2>&1 &
    echo $! >"$STATE/$name.pid"
}

# --- certificates --------------------------------------------------------------------------

# cert NAME CN [O] [SANS] [CA]: a key and a certificate signed by CA (default: the cluster's CA).
cert() {
    local name=$1 cn=$2 org=${3:-} sans=${4:-} ca=${5:-ca}
    local subject="/CN=$cn"
    [[ -n $org ]] && subject="/O=$org$subject"
    openssl req -new -newkey rsa:2048 -nodes -keyout "$STATE/pki/$name.key" -subj "$subject" \
        -out "$STATE/pki/$name.csr" 2>/dev/null
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=serverAuth,clientAuth"
        [[ -n $sans ]] && echo "subjectAltName=$sans"
    } >"$STATE/pki/$name.ext"
    openssl x509 -req -in "$STATE/pki/$name.csr" -CA "$STATE/pki/$ca.crt" -CAkey "$STATE/pki/$ca.key" \
        -CAcreateserial -days 2 -extfile "$STATE/pki/$name.ext" -out "$STATE/pki/$name.crt" 2>/dev/null
}

ca() {
    openssl req -x509 -new -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
        -keyout "$STATE/pki/$1.key" -out "$STATE/pki/$1.crt" 2>/dev/null
}

# kubeconfig NAME: a kubeconfig for the client certificate NAME.
kubeconfig() {
    local name=$1 file="$STATE/$1.kubeconfig"
    kubectl config set-cluster mp3 --kubeconfig="$file" --server="https://$NODE_IP:$API_PORT" \
        --certificate-authority="$STATE/pki/ca.crt" --embed-certs >/dev/null
    kubectl config set-credentials "$name" --kubeconfig="$file" --client-certificate="$STATE/pki/$name.crt" \
        --client-key="$STATE/pki/$name.key" --embed-certs >/dev/null
    kubectl config set-context mp3 --kubeconfig="$file" --cluster=mp3 --user="$name" >/dev/null
    kubectl config use-context mp3 --kubeconfig="$file" >/dev/null
}

make_pki() {
    mkdir -p "$STATE/pki"
    ca ca mp3-k8s-ca
    ca front-proxy-ca mp3-k8s-front-proxy-ca
    cert apiserver kube-apiserver "" \
        "IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
    cert front-proxy-client front-proxy-client "" "" front-proxy-ca
    cert admin admin system:masters
    cert controller-manager system:kube-controller-manager
    cert scheduler system:kube-scheduler
    cert kubelet "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
    cert kube-proxy system:kube-proxy
    openssl genrsa -out "$STATE/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$STATE/pki/sa.key" -pubout -out "$STATE/pki/sa.pub" 2>/dev/null
    local name
    for name in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig "$name"; done
}

# --- the node's network --------------------------------------------------------------------

make_network() {
    # The kernel here has no dummy-interface module and the API server refuses a loopback
    # address to advertise, so the node's address sits on one end of a veth pair of our own.
    ip link add "$NODE_LINK" type veth peer name "$NODE_PEER_LINK"
    ip addr add "$NODE_IP/$NODE_PREFIX" dev "$NODE_LINK"
    ip addr add "$NODE_PEER_IP/$NODE_PREFIX" dev "$NODE_PEER_LINK"
    ip link set "$NODE_LINK" up
    ip link set "$NODE_PEER_LINK" up
    mkdir -p "$STATE/cni/net.d" "$STATE/cni/ipam"
    # No ipMasq: pods talk to each other, the node and the services, and nothing leaves the machine.
    cat >"$STATE/cni/net.d/10-mp3.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "mp3",
  "plugins": [
    {"type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

# --- the daemons ---------------------------------------------------------------------------

start_etcd() {
    start etcd etcd --name mp3-k8s --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "mp3-k8s=http://127.0.0.1:$ETCD_PEER_PORT" \
        --quota-backend-bytes $((2 * 1024 * 1024 * 1024))
    wait_for 30 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_containerd() {
    mkdir -p "$CONTAINERD_ROOT" "$STATE/containerd"
    cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$STATE/containerd"
[grpc]
  address = "$STATE/containerd.sock"
[ttrpc]
  address = "$STATE/containerd.ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  # Built locally (scripts/k8s/images.sh): nothing may come from a registry.
  sandbox_image = "$PAUSE_IMAGE"
  # The VM lacks CAP_SYS_RESOURCE, so runc cannot lower a sandbox's oom_score_adj below its own.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # runc's own state, which defaults to /run/containerd/runc, under ours.
        Root = "$STATE/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
    start containerd containerd --config "$STATE/containerd.toml"
    wait_for 30 containerd ctr --address "$STATE/containerd.sock" version
}

start_control_plane() {
    start kube-apiserver kube-apiserver \
        --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port="$API_PORT" \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --service-cluster-ip-range="$SERVICE_CIDR" \
        --authorization-mode=Node,RBAC \
        --client-ca-file="$STATE/pki/ca.crt" \
        --tls-cert-file="$STATE/pki/apiserver.crt" --tls-private-key-file="$STATE/pki/apiserver.key" \
        --kubelet-client-certificate="$STATE/pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key="$STATE/pki/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types=InternalIP,Hostname \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$STATE/pki/sa.pub" --service-account-signing-key-file="$STATE/pki/sa.key" \
        --requestheader-client-ca-file="$STATE/pki/front-proxy-ca.crt" \
        --requestheader-allowed-names=front-proxy-client \
        --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
        --requestheader-extra-headers-prefix=X-Remote-Extra- \
        --proxy-client-cert-file="$STATE/pki/front-proxy-client.crt" \
        --proxy-client-key-file="$STATE/pki/front-proxy-client.key" \
        --enable-aggregator-routing=true \
        --allow-privileged=false
    wait_for 90 kube-apiserver kubectl get --raw /readyz
    start kube-controller-manager kube-controller-manager \
        --kubeconfig="$STATE/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
        --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
        --bind-address=127.0.0.1 --leader-elect=false \
        --service-account-private-key-file="$STATE/pki/sa.key" --root-ca-file="$STATE/pki/ca.crt" \
        --use-service-account-credentials=true \
        --cluster-signing-cert-file="$STATE/pki/ca.crt" --cluster-signing-key-file="$STATE/pki/ca.key" \
        --service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false \
        --horizontal-pod-autoscaler-sync-period=5s
    start kube-scheduler kube-scheduler \
        --kubeconfig="$STATE/scheduler.kubeconfig" \
        --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
        --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
        --bind-address=127.0.0.1 --leader-elect=false
}

start_node() {
    mkdir -p "$STATE/kubelet"
    # The kubelet creates the pods' cgroups under its cgroupRoot, which must exist in each hierarchy.
    local controller
    for controller in /sys/fs/cgroup/*/; do
        mkdir -p "$controller$CGROUP_ROOT"
    done
    cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$STATE/pki/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$STATE/pki/kubelet.crt"
tlsPrivateKeyFile: "$STATE/pki/kubelet.key"
containerRuntimeEndpoint: "unix://$STATE/containerd.sock"
cgroupDriver: cgroupfs
# Every pod's cgroup under one root of our own, which \`down\` removes.
cgroupRoot: /$CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [$DNS_SERVICE_IP]
podCIDR: $POD_CIDR
resolvConf: /etc/resolv.conf
# The test's images are loaded by hand: the kubelet must never delete them to free disk.
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
serializeImagePulls: false
# The containers' logs, which default to /var/log/pods, under our state too.
podLogsDir: "$STATE/pod-logs"
EOF
    start kubelet kubelet --config="$STATE/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
        --root-dir="$STATE/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
    cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$STATE/kube-proxy.kubeconfig"}
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the machine's conntrack table size alone.
conntrack: {maxPerCore: 0}
iptables: {localhostNodePorts: false}
EOF
    start kube-proxy kube-proxy --config="$STATE/kube-proxy.yaml"
    wait_for "$READY_SECONDS" "the node" kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
}

start_dns() {
    kubectl apply -f "$ROOT/scripts/k8s/coredns.yaml" >/dev/null
    kubectl -n kube-system rollout status deployment/coredns --timeout="${READY_SECONDS}s" >/dev/null
}

up() {
    [[ -e $STATE ]] && die "$STATE exists: a cluster is running (or was not torn down): scripts/k8s/cluster.sh down"
    local started=$SECONDS name
    mkdir -p "$STATE"
    for name in "${SYSCTLS[@]}"; do
        echo "$name=$(sysctl -n "$name")" >>"$STATE/sysctls.before"
    done
    list_netns >"$STATE/netns.before"
    sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
    make_pki
    make_network
    start_etcd
    start_containerd
    start_control_plane
    start_node
    # The pause and CoreDNS images first: nothing can be pulled (scripts/k8s/images.sh build made them).
    "$ROOT/scripts/k8s/images.sh" import
    start_dns
    log "cluster up in $((SECONDS - started)) s; KUBECONFIG=$KUBECONFIG"
}

list_netns() { ip netns list 2>/dev/null | awk '{print $1}' | sort; }

# --- down ----------------------------------------------------------------------------------

# stop NAME: SIGTERM to the daemon started as NAME, SIGKILL after 30 s.
stop() {
    local pid_file="$STATE/$1.pid" pid
    [[ -f $pid_file ]] || return 0
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

# Remove every iptables rule that jumps to a KUBE-* or CNI-* chain, then those chains.
remove_chains() {
    local tool=$1 table rule chain
    for table in filter nat mangle raw; do
        "$tool" -t "$table" -S >/dev/null 2>&1 || continue
        while read -r rule; do
            # shellcheck disable=SC2086 # the rule is iptables' own words, split as it printed them
            eval "$tool -t $table -D ${rule#-A }" 2>/dev/null || true
        done < <("$tool" -t "$table" -S | grep -E '^-A ' | grep -E -- '-j (KUBE|CNI)-' | grep -vE '^-A (KUBE|CNI)-')
        for chain in $("$tool" -t "$table" -S | awk '$1 == "-N" && $2 ~ /^(KUBE|CNI)-/ {print $2}'); do
            "$tool" -t "$table" -F "$chain" 2>/dev/null || true
        done
        for chain in $("$tool" -t "$table" -S | awk '$1 == "-N" && $2 ~ /^(KUBE|CNI)-/ {print $2}'); do
            "$tool" -t "$table" -X "$chain" 2>/dev/null || true
        done
    done
}

# The containers' shims outlive containerd; each wrote its pid into its task's directory.
stop_shims() {
    local pid_file
    for pid_file in "$STATE"/containerd/io.containerd.runtime.v2.task/*/*/shim.pid; do
        [[ -f $pid_file ]] && kill -KILL "$(cat "$pid_file")" 2>/dev/null
    done
    return 0
}

remove_cgroups() {
    local controller
    for controller in /sys/fs/cgroup/*/; do
        [[ -d "$controller$CGROUP_ROOT" ]] || continue
        find "$controller$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}

down() {
    [[ -d $STATE ]] || { log "no cluster state in $STATE: nothing to stop"; return 0; }
    local started=$SECONDS mount netns
    set +e
    # No controller may replace the pods deleted next.
    stop kube-controller-manager
    stop kube-scheduler
    # The pods, through the kubelet, so their sandboxes and network namespaces go cleanly.
    if [[ -f $STATE/kubelet.pid ]] && kubectl get --raw /readyz >/dev/null 2>&1; then
        kubectl delete pods --all-namespaces --all --grace-period=5 --wait=true --timeout=90s >/dev/null 2>&1
    fi
    stop kube-proxy
    stop kubelet
    # Whatever the kubelet did not stop, containerd does.
    if [[ -f $STATE/containerd.pid ]]; then
        local task
        for task in $(ctr --address "$STATE/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$STATE/containerd.sock" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1
        done
        sleep 1
        for task in $(ctr --address "$STATE/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$STATE/containerd.sock" -n k8s.io tasks delete --force "$task" >/dev/null 2>&1
        done
    fi
    stop kube-apiserver
    stop containerd
    stop_shims
    stop etcd
    kube-proxy --cleanup >/dev/null 2>&1
    remove_chains iptables
    remove_chains ip6tables
    # The pods' network namespaces and the mounts under our state (secrets, the containers' rootfs).
    for netns in $(comm -13 "$STATE/netns.before" <(list_netns)); do
        ip netns delete "$netns"
    done
    for mount in $(findmnt -rn -o TARGET | grep -E "^($STATE|$CONTAINERD_ROOT)" | sort -r); do
        umount -l "$mount"
    done
    # containerd's CNI library caches each attachment's result under the network's name.
    rm -f /var/lib/cni/results/mp3-*
    ip link delete "$CNI_BRIDGE" 2>/dev/null
    ip link delete "$NODE_LINK" 2>/dev/null
    remove_cgroups
    if [[ -f $STATE/sysctls.before ]]; then
        # Forwarding stays on while another container engine's bridge (a compose test's docker0)
        # still needs it; it was on for them before, or they turned it on after us.
        if ip -o link show type bridge | grep -q .; then
            sed -i '/^net.ipv4.ip_forward=/d' "$STATE/sysctls.before"
        fi
        sysctl -q -p "$STATE/sysctls.before" >/dev/null
    fi
    rm -rf "$STATE"
    # The pod sandboxes' state in containerd's root refers to the run that just ended.
    rm -rf "$CONTAINERD_ROOT/io.containerd.grpc.v1.cri/sandboxes" "$CONTAINERD_ROOT/io.containerd.grpc.v1.cri/containers"
    set -e
    log "cluster down in $((SECONDS - started)) s"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
