# Settings of the single-node cluster, sourced by every script in scripts/cluster/.
# Override any of them in the environment (e.g. NODE_IP=192.168.1.5 scripts/cluster/up.sh).

# Versions: the binaries are cached under $CLUSTER_CACHE keyed on these.
export K8S_VERSION=${K8S_VERSION:-v1.36.3}         # k8s.io/kubernetes (needs Go >= 1.26)
export COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0} # github.com/coredns/coredns
export CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}   # sigs.k8s.io/cri-tools

# Caches (kept between runs) and the project's own tools (helm from scripts/ci/ensure-tools.sh).
export STUDIOLINE_CACHE=${STUDIOLINE_CACHE:-$HOME/.cache/studioline}
export CLUSTER_CACHE=${CLUSTER_CACHE:-$STUDIOLINE_CACHE/cluster}
export CLUSTER_BIN=$CLUSTER_CACHE/bin               # kube-*, kubelet, kubectl, crictl, coredns
export CLUSTER_IMAGES=$CLUSTER_CACHE/images        # OCI / docker-save archives imported by up.sh
export PATH=$CLUSTER_BIN:$STUDIOLINE_CACHE/bin:$PATH

# Cluster state (removed by down.sh): pki, etcd, containerd root, logs, pids; sockets.
export KR=${KR:-/var/lib/studioline-cluster}
export KRUN=${KRUN:-/run/studioline-cluster}
export CTR_SOCK=$KRUN/containerd.sock
export KUBECONFIG=$KR/admin.kubeconfig
export CRI_CONFIG_FILE=$KR/crictl.yaml
export HELM_CACHE_HOME=$KR/helm/cache HELM_CONFIG_HOME=$KR/helm/config HELM_DATA_HOME=$KR/helm/data

# Network. The kubelet refuses a loopback node IP: use the source address of the default route
# (traffic to it stays on this machine).
# The node's name (not NODE: npm sets NODE to the node binary for the scripts it runs).
export CLUSTER_NODE=${CLUSTER_NODE:-$(hostname | tr 'A-Z' 'a-z')}
export NODE_IP=${NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<=NF;i++) if($i=="src"){print $(i+1); exit}}')}
export SVC_CIDR=${SVC_CIDR:-10.0.0.0/24} SVC_IP=${SVC_IP:-10.0.0.1} DNS_IP=${DNS_IP:-10.0.0.10}
export POD_CIDR=${POD_CIDR:-10.244.0.0/24}
export CNI_BRIDGE=sl-cni0
export GUARD_COMMENT=studioline-cluster-guard       # iptables comment of the traffic guard (guard.sh)

# Product images (built with Docker by scripts/ci/build-images.sh and ensure-docker.sh), saved by
# images.sh and imported into the cluster's containerd: pods use them with imagePullPolicy Never.
export CLUSTER_PRODUCT_IMAGES=${CLUSTER_PRODUCT_IMAGES:-"${STUDIOLINE_IMAGE:-studioline:dev} ${STUDIOLINE_REDIS_IMAGE:-studioline-local/redis:7}"}
