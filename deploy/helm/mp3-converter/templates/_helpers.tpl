{{/* Names, labels and the pieces every service's template shares. */}}

{{/* The release's base name: the release name alone when it already says mp3-converter. */}}
{{- define "mp3.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* One component's name: (dict "root" $ "component" "gateway"). */}}
{{- define "mp3.name" -}}
{{- printf "%s-%s" (include "mp3.fullname" .root) .component -}}
{{- end -}}

{{- define "mp3.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mp3.labels" -}}
{{ include "mp3.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: mp3-converter
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* The Secret holding the application's secrets: the user's, or the chart's when asked. */}}
{{- define "mp3.secretName" -}}
{{- if .Values.secrets.create -}}
{{- printf "%s-secrets" (include "mp3.fullname" .) -}}
{{- else -}}
{{- required "secrets.existingSecret is required (or set secrets.create=true and give the secrets as values)" .Values.secrets.existingSecret -}}
{{- end -}}
{{- end -}}

{{/* Where amqp-url, mongodb-uri and mysql-password are read: the dev servers' own Secret in dev mode. */}}
{{- define "mp3.dependencySecretName" -}}
{{- if .Values.dev.enabled -}}
{{- printf "%s-dev-servers" (include "mp3.fullname" .) -}}
{{- else -}}
{{- include "mp3.secretName" . -}}
{{- end -}}
{{- end -}}

{{- define "mp3.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.repository .component .root.Values.image.tag -}}
{{- end -}}

{{/* The pod-level settings every service shares. */}}
{{- define "mp3.podCommon" -}}
serviceAccountName: {{ include "mp3.name" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The environment the three services on the pipeline share: the broker and MongoDB. */}}
{{- define "mp3.pipelineEnv" -}}
- name: AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mp3.dependencySecretName" . }}
      key: amqp-url
- name: MONGODB_URI
  valueFrom:
    secretKeyRef:
      name: {{ include "mp3.dependencySecretName" . }}
      key: mongodb-uri
{{- end -}}

{{/* The settings every service shares, for its ConfigMap. */}}
{{- define "mp3.commonConfig" -}}
ENVIRONMENT: {{ .Values.environment | quote }}
LOG_LEVEL: {{ .Values.logLevel | quote }}
{{- end -}}

{{/* A probe on one of the services' HTTP health endpoints: (dict "path" "/readyz" "port" "http"). */}}
{{- define "mp3.httpProbes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 2
{{- end -}}

{{/* The ServiceAccount of one component: no API access is needed, so no token is mounted. */}}
{{- define "mp3.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "mp3.name" . }}
  labels:
    {{- include "mp3.labels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end -}}

{{/* The /tmp scratch volume every container needs under a read-only root filesystem. */}}
{{- define "mp3.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/* Egress to the cluster's DNS, which every pod needs to find the others by name. */}}
{{- define "mp3.dnsEgress" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end -}}

{{/*
Egress to one dependency: the dev server's pods in dev mode, else the external CIDRs (any
address when none are given). (dict "root" $ "server" "rabbitmq" "port" 5672)
*/}}
{{- define "mp3.dependencyEgress" -}}
{{- if .root.Values.dev.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "mp3.selectorLabels" (dict "root" .root "component" .server) | nindent 10 }}
  ports:
    - protocol: TCP
      port: {{ .port }}
{{- else }}
- ports:
    - protocol: TCP
      port: {{ .port }}
  {{- with .root.Values.networkPolicy.externalCidrs }}
  to:
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Egress from the pipeline's services to RabbitMQ and MongoDB. */}}
{{- define "mp3.pipelineEgress" -}}
{{ include "mp3.dependencyEgress" (dict "root" . "server" "rabbitmq" "port" (ternary 5672 .Values.networkPolicy.externalPorts.rabbitmq .Values.dev.enabled)) }}
{{ include "mp3.dependencyEgress" (dict "root" . "server" "mongodb" "port" (ternary 27017 .Values.networkPolicy.externalPorts.mongodb .Values.dev.enabled)) }}
{{- end -}}
