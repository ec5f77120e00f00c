{{/*
The `studioline certify` container of the certification Job and of the `helm test` hook:
  include "studioline.certifyContainer" (dict "ctx" . "name" "certify" "peers" 200 "duration" "60s" "shards" 1 "mobileLines" .Values.certify.mobileLines "maxP99Ms" .Values.certify.maxP99Ms "resources" .Values.certify.resources)
It certifies the gateway Service from inside the cluster against this release's own budget, and
scrapes every gateway and relay pod's /metrics through headless Services. Without a static API key
it makes a temporary one through keys-admin and revokes it afterwards.
*/}}
{{- define "studioline.certifyContainer" -}}
{{- $ := .ctx -}}
{{- $full := include "studioline.fullname" $ -}}
- name: {{ .name }}
  {{- include "studioline.containerCommon" $ | nindent 2 }}
  args:
    - certify
    - --url
    - {{ default (printf "http://%s-gateway:%v/" $full $.Values.gateway.service.port) $.Values.certify.url | quote }}
    - --peers
    - {{ .peers | quote }}
    - --lines-of
    - {{ $.Values.certify.linesOf | quote }}
    - --duration
    - {{ .duration | quote }}
    - --shards
    - {{ .shards | quote }}
    - --budget
    - {{ $.Values.config.budgetBps | int64 | quote }}
    - --over-budget
    - {{ $.Values.certify.overBudgetBps | int64 | quote }}
    - --mobile-lines
    - {{ .mobileLines | quote }}
    - --max-loss
    - {{ $.Values.certify.maxLoss | quote }}
    - --max-p99-ms
    - {{ .maxP99Ms | quote }}
    - --metrics
    - {{ printf "dns+http://%s-certify-gateways:%v/metrics,dns+http://%s-relay:%v/metrics" $full $.Values.gateway.metricsPort $full $.Values.relay.metricsPort | quote }}
    - --wait-ready
    - 300s
    - --out
    - /tmp/certificate
    {{- if $.Values.keysAdmin.enabled }}
    - --admin-url
    - http://{{ $full }}-keys-admin:{{ $.Values.keysAdmin.service.port }}
    {{- end }}
  env:
    - name: APIKEY
      valueFrom:
        secretKeyRef:
          name: {{ include "studioline.secretName" $ }}
          key: apikey
          optional: true
    - name: STUDIOLINE_ADMIN_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ include "studioline.secretName" $ }}
          key: admin-token
  resources:
    {{- toYaml .resources | nindent 4 }}
{{- end -}}
