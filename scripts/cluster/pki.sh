#!/usr/bin/env bash
# A fresh CA (valid 30 days), every component's certificate and key, and the kubeconfigs, under $KR.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd); . "$D/env.sh"; . "$D/lib.sh"; need_root
P=$KR/pki; mkdir -p "$P"; cd "$P"
openssl genrsa -out ca.key 2048 2>/dev/null
openssl req -x509 -new -key ca.key -days 30 -subj "/CN=studioline-cluster-ca" -out ca.crt
# cert NAME SUBJECT EXTKEYUSAGE [SANs]
cert() {
  openssl genrsa -out "$1.key" 2048 2>/dev/null
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"; echo "extendedKeyUsage=$3"
    [ -n "${4:-}" ] && echo "subjectAltName=$4"; } > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
cert apiserver "/CN=kube-apiserver" serverAuth \
  "IP:127.0.0.1,IP:$SVC_IP,IP:$NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert admin "/O=system:masters/CN=admin" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
cert kubelet "/O=system:nodes/CN=system:node:$CLUSTER_NODE" clientAuth
# the kubelet's serving certificate is signed by the cluster CA, so kubectl logs/exec/port-forward verify it
cert kubelet-serving "/CN=$CLUSTER_NODE" serverAuth "DNS:$CLUSTER_NODE,IP:127.0.0.1,IP:$NODE_IP"
openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
chmod 600 ./*.key
for u in admin controller-manager scheduler kube-proxy kubelet; do
  cat > "$KR/$u.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: studioline-cluster
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: $(base64 -w0 ca.crt)}
users:
- name: $u
  user: {client-certificate-data: $(base64 -w0 "$u.crt"), client-key-data: $(base64 -w0 "$u.key")}
contexts:
- name: default
  context: {cluster: studioline-cluster, user: $u}
current-context: default
KC
  chmod 600 "$KR/$u.kubeconfig"
done
echo "  pki and kubeconfigs in $KR"
