{{- define "studioline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "studioline.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}{{- .Release.Name | trunc 63 | trimSuffix "-" -}}{{- else -}}{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}{{- end -}}
{{- end -}}
{{- end -}}

{{- define "studioline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "studioline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: studioline.selectorLabels (dict "ctx" . "component" "gateway") */}}
{{- define "studioline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "studioline.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "studioline.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "studioline.secretName" -}}
{{- default (printf "%s-auth" (include "studioline.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "studioline.publicUrl" -}}
{{- if .Values.config.publicUrl -}}{{- .Values.config.publicUrl -}}{{- else if .Values.ingress.enabled -}}{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}{{- end -}}
{{- end -}}

{{/* Fails the render with a message that says what to change. */}}
{{- define "studioline.validateValues" -}}
{{- $errors := list -}}
{{- $modes := list "bundled" "external" "sentinel" "cluster" -}}
{{- if not (has .Values.redis.mode $modes) -}}
{{- $errors = append $errors (printf "redis.mode must be one of bundled, external, sentinel, cluster (got %q)" .Values.redis.mode) -}}
{{- end -}}
{{- if and (eq .Values.redis.mode "external") (not .Values.redis.external.url) (not .Values.redis.external.existingSecret) -}}
{{- $errors = append $errors "redis.mode=external needs redis.external.url or redis.external.existingSecret" -}}
{{- end -}}
{{- if and (eq .Values.redis.mode "sentinel") (not .Values.redis.sentinel.nodes) -}}
{{- $errors = append $errors "redis.mode=sentinel needs redis.sentinel.nodes (host:port of each sentinel)" -}}
{{- end -}}
{{- if and (eq .Values.redis.mode "cluster") (not .Values.redis.cluster.nodes) -}}
{{- $errors = append $errors "redis.mode=cluster needs redis.cluster.nodes (host:port of seed nodes)" -}}
{{- end -}}
{{- if and (eq .Values.redis.mode "cluster") (not (regexMatch "\\{.+\\}" .Values.redis.prefix)) -}}
{{- $errors = append $errors "redis.mode=cluster needs a hash tag in redis.prefix, e.g. \"{studioline}:\", so related keys share a slot" -}}
{{- end -}}
{{- if lt (int64 .Values.config.budgetBps) 3300000 -}}
{{- $errors = append $errors (printf "config.budgetBps %d is below 3300000, the rate of one full-rate (200 kHz) stream: every call would be cut" (int64 .Values.config.budgetBps)) -}}
{{- end -}}
{{- if lt (int .Values.config.lineCapacity) 2 -}}
{{- $errors = append $errors "config.lineCapacity must be at least 2" -}}
{{- end -}}
{{- if le (int .Values.gateway.terminationGracePeriodSeconds) (int .Values.gateway.drainTimeoutSeconds) -}}
{{- $errors = append $errors (printf "gateway.terminationGracePeriodSeconds (%d) must exceed gateway.drainTimeoutSeconds (%d), or Kubernetes kills gateways mid-drain" (int .Values.gateway.terminationGracePeriodSeconds) (int .Values.gateway.drainTimeoutSeconds)) -}}
{{- end -}}
{{- range .Values.ingress.trustedProxies -}}
{{- if not (regexMatch "^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$" .) -}}
{{- $errors = append $errors (printf "ingress.trustedProxies: %q is not an IPv4 or IPv6 address or CIDR (e.g. 10.244.0.0/16)" .) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled (not .Values.ingress.tls.secretName) -}}
{{- $errors = append $errors "ingress.tls.enabled needs ingress.tls.secretName (cert-manager writes it when ingress.tls.certManagerClusterIssuer is set)" -}}
{{- end -}}
{{- if and .Values.gateway.autoscaling.enabled (gt (int .Values.gateway.autoscaling.minReplicas) (int .Values.gateway.autoscaling.maxReplicas)) -}}
{{- $errors = append $errors "gateway.autoscaling.minReplicas must not exceed maxReplicas" -}}
{{- end -}}
{{- with .Values.sipBridge -}}
{{- if .enabled -}}
{{- if not .directorySecret -}}
{{- $errors = append $errors "sipBridge.enabled needs sipBridge.directorySecret: a Secret whose `directory.json` lists the lines phones may dial (README, \"SIP bridge\")" -}}
{{- end -}}
{{- if gt (int .rtpPortMin) (int .rtpPortMax) -}}
{{- $errors = append $errors (printf "sipBridge.rtpPortMin (%d) is above sipBridge.rtpPortMax (%d)" (int .rtpPortMin) (int .rtpPortMax)) -}}
{{- else if lt (int (add1 (sub (int .rtpPortMax) (int .rtpPortMin)))) (int .maxCalls) -}}
{{- $errors = append $errors (printf "sipBridge.rtpPortMin..rtpPortMax holds %d ports, fewer than sipBridge.maxCalls (%d): one port per call" (int (add1 (sub (int .rtpPortMax) (int .rtpPortMin)))) (int .maxCalls)) -}}
{{- end -}}
{{- if and (le (int .rtpPortMin) (int .sipPort)) (ge (int .rtpPortMax) (int .sipPort)) -}}
{{- $errors = append $errors (printf "sipBridge.sipPort (%d) lies inside the RTP range" (int .sipPort)) -}}
{{- end -}}
{{- if gt (int (sub (int .rtpPortMax) (int .rtpPortMin))) 999 -}}
{{- $errors = append $errors "sipBridge.rtpPortMin..rtpPortMax holds more than 1000 ports: each is a port entry of the pod (Kubernetes has no port ranges); keep the range to what sipBridge.maxCalls needs" -}}
{{- end -}}
{{- if and (eq .expose "nodePort") (or (lt (int .sipPort) 30000) (gt (int .rtpPortMax) 32767) (lt (int .rtpPortMin) 30000) (gt (int .sipPort) 32767)) -}}
{{- $errors = append $errors (printf "sipBridge.expose=nodePort: sipBridge.sipPort (%d) and the RTP range (%d-%d) must lie in the NodePort range 30000-32767 (the node ports equal the ports written into SDP)" (int .sipPort) (int .rtpPortMin) (int .rtpPortMax)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\n\nstudioline: invalid values:\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}

{{/* Redis connection environment, per mode. */}}
{{- define "studioline.redisEnv" -}}
{{- if eq .Values.redis.mode "bundled" }}
- name: REDIS_URL
  value: {{ printf "redis://%s-redis:6379" (include "studioline.fullname" .) | quote }}
{{- else if eq .Values.redis.mode "external" }}
- name: REDIS_URL
{{- if .Values.redis.external.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.existingSecretKey }}
{{- else }}
  value: {{ .Values.redis.external.url | quote }}
{{- end }}
{{- else if eq .Values.redis.mode "sentinel" }}
- name: REDIS_SENTINELS
  value: {{ join "," .Values.redis.sentinel.nodes | quote }}
- name: REDIS_SENTINEL_MASTER
  value: {{ .Values.redis.sentinel.masterName | quote }}
{{- else if eq .Values.redis.mode "cluster" }}
- name: REDIS_CLUSTER_NODES
  value: {{ join "," .Values.redis.cluster.nodes | quote }}
{{- end }}
{{- end -}}

{{/* What every Studioline container shares: config, secrets, Redis, security context. */}}
{{- define "studioline.containerCommon" -}}
image: {{ include "studioline.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
envFrom:
  - configMapRef:
      name: {{ include "studioline.fullname" . }}-config
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* Environment entries every Studioline container has (a list; the container adds its own). */}}
{{- define "studioline.commonEnv" -}}
{{- include "studioline.redisEnv" . }}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with .Values.config.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "studioline.podCommon" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  fsGroup: 10001
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
{{- end -}}

{{/* Millicores a resources block requests: "250m" -> 250, "1" or 1 -> 1000, "1.5" -> 1500; 0 when unset. */}}
{{- define "studioline.cpuMillis" -}}
{{- $cpu := toString (dig "requests" "cpu" "0" .) -}}
{{- if hasSuffix "m" $cpu -}}{{- trimSuffix "m" $cpu | int -}}{{- else -}}{{- mulf (float64 $cpu) 1000 | int -}}{{- end -}}
{{- end -}}

{{/* Millicores the release's pods request together, at their (minimum) replica counts. */}}
{{- define "studioline.cpuRequested" -}}
{{- $gateways := ternary .Values.gateway.autoscaling.minReplicas .Values.gateway.replicaCount .Values.gateway.autoscaling.enabled -}}
{{- $total := add (mul (include "studioline.cpuMillis" .Values.gateway.resources) $gateways) (mul (include "studioline.cpuMillis" .Values.relay.resources) .Values.relay.replicaCount) -}}
{{- if .Values.keysAdmin.enabled -}}{{- $total = add $total (include "studioline.cpuMillis" .Values.keysAdmin.resources) -}}{{- end -}}
{{- if eq .Values.redis.mode "bundled" -}}{{- $total = add $total (include "studioline.cpuMillis" .Values.redis.bundled.resources) -}}{{- end -}}
{{- if .Values.sipBridge.enabled -}}{{- $total = add $total (include "studioline.cpuMillis" .Values.sipBridge.resources) -}}{{- end -}}
{{- $total -}}
{{- end -}}
