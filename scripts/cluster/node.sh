#!/usr/bin/env bash
# The node: containerd (own socket and directories, beside any Docker's) with the CNI bridge, the
# images from images.sh imported, the kubelet and kube-proxy (iptables mode).
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"; . "$D/lib.sh"; need_root
P=$KR/pki; CNI_BIN=/usr/lib/cni
mkdir -p "$KR/containerd" "$KR/cni/net.d" "$KRUN"
# Remember the kernel settings the kubelet and CNI change, and what existed before, so that
# down.sh restores the former and removes only what this cluster made.
[ -f "$KR/sysctl.saved" ] || for s in kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom \
   net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables; do echo "$s=$(sysctl -n $s 2>/dev/null || echo 0)"; done > "$KR/sysctl.saved"
[ -d /var/lib/cni ] || touch "$KR/own-var-lib-cni"
[ -d /var/lib/kubelet ] || touch "$KR/own-var-lib-kubelet"
ls -d /sys/fs/cgroup/kubepods* /sys/fs/cgroup/*/kubepods* >/dev/null 2>&1 || touch "$KR/own-kubepods-cgroups"
{ iptables-save; ip6tables-save; } | grep -qE '^:(KUBE-|CNI-)' || touch "$KR/own-iptables-chains"
modprobe br_netfilter 2>/dev/null || true; modprobe overlay 2>/dev/null || true
[ -d /proc/sys/net/bridge ] || { echo "node.sh: the kernel has no br_netfilter (/proc/sys/net/bridge)" >&2; exit 1; }
# bridge-nf-call-iptables: pod -> ClusterIP -> pod on the same bridge
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1

# cgroup driver: containerd 1.6 cannot tell the kubelet its driver (no RuntimeConfig CRI call), so
# both are set here together: systemd on a systemd host, else cgroupfs.
if [ -d /run/systemd/system ]; then driver=systemd systemd_cgroup=true; else driver=cgroupfs systemd_cgroup=false; fi
cat > "$KR/containerd/config.toml" <<TOML
version = 2
root = "$KR/containerd/root"
state = "$KRUN/containerd"
[grpc]
  address = "$CTR_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$KR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:local"
  netns_mounts_under_state_dir = true   # pod netns under \$KRUN/containerd, not /run/netns
  restrict_oom_score_adj = true         # root without CAP_SYS_RESOURCE cannot set the sandbox's oom_score_adj=-998
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = $systemd_cgroup
        Root = "$KRUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$KR/cni/net.d"
TOML
# firewall plugin: Docker sets the FORWARD policy to DROP; it adds the CNI-FORWARD accept rules
cat > "$KR/cni/net.d/10-bridge.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "studioline-cluster",
  "plugins": [
    { "type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$KR/cni/ipam" } },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" }
  ]
}
JSON
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\n' "$CTR_SOCK" "$CTR_SOCK" > "$CRI_CONFIG_FILE"
start containerd /usr/bin/containerd --config "$KR/containerd/config.toml"
waitfor 60 containerd ctr -a "$CTR_SOCK" version
"$D/images.sh" --import-only

mkdir -p "$KR/kubelet"
cat > "$KR/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CTR_SOCK
cgroupDriver: $driver
failCgroupV1: false             # kubelet 1.36 refuses cgroup v1 hosts without it
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $P/kubelet-serving.crt
tlsPrivateKeyFile: $P/kubelet-serving.key
clusterDomain: cluster.local
clusterDNS: ["$DNS_IP"]
resolvConf: $( [ -f /run/systemd/resolve/resolv.conf ] && echo /run/systemd/resolve/resolv.conf || echo /etc/resolv.conf )
# local images cannot be pulled again: never garbage-collect them, never evict for disk pressure
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
YAML
start kubelet "$CLUSTER_BIN/kubelet" --config="$KR/kubelet/config.yaml" --kubeconfig="$KR/kubelet.kubeconfig" \
  --node-ip="$NODE_IP" --hostname-override="$CLUSTER_NODE" --v=1

cat > "$KR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KR/kube-proxy.kubeconfig}
hostnameOverride: $CLUSTER_NODE
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: {localhostNodePorts: false}   # leaves route_localnet alone
nodePortAddresses: ["primary"]          # NodePorts only on the node IP
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}   # leaves the host's conntrack sysctls alone
YAML
start kube-proxy "$CLUSTER_BIN/kube-proxy" --config="$KR/kube-proxy.yaml" --v=1
waitfor 180 "node $CLUSTER_NODE Ready" kubectl wait --for=condition=Ready "node/$CLUSTER_NODE" --timeout=5s
