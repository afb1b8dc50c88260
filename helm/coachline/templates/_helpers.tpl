{{/* Names, labels and the pieces every coachline pod shares. */}}

{{- define "coachline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "coachline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "coachline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "coachline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: coachline
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "coachline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "coachline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "coachline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "coachline.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "coachline.secretName" -}}
{{- default (printf "%s-secrets" (include "coachline.fullname" .)) .Values.secrets.name }}
{{- end }}

{{/* An image reference: (dict "root" $ "image" "api"). Refuses moving tags. */}}
{{- define "coachline.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag | toString }}
{{- if eq $tag "latest" }}
{{- fail "image.tag: pin a version; \"latest\" moves under a running release" }}
{{- end }}
{{- $repo := index .root.Values.image .image }}
{{- if .root.Values.image.registry }}
{{- printf "%s/%s:%s" .root.Values.image.registry $repo $tag }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{/* The StatefulSet and Service of a GPU pool: (dict "root" $ "pool" $pool). */}}
{{- define "coachline.gpuName" -}}
{{- $name := printf "%s-gpu-%s" (include "coachline.fullname" .root) .pool.name }}
{{- if gt (len $name) 52 }}
{{- fail (printf "GPU pool %q: %q is longer than 52 characters (a StatefulSet's pods need the rest); shorten the pool or release name" .pool.name $name) }}
{{- end }}
{{- $name }}
{{- end }}

{{/* The engine URL every role but the pool's own pods uses: the pool's Service. */}}
{{- define "coachline.poolServiceUrl" -}}
{{- printf "http://%s.%s.svc:%d/v1" (include "coachline.gpuName" .) .root.Release.Namespace (int .root.Values.gpu.enginePort) }}
{{- end }}

{{/* The pools file (YAML) generated from .Values.pools, .Values.cloud and the tenants. */}}
{{- define "coachline.poolsFile" -}}
{{- $root := . }}
{{- $pools := list }}
{{- $seen := dict }}
{{- range .Values.pools }}
{{- if hasKey $seen .name }}
{{- fail (printf "pools: %q is listed twice" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- $engine := include "coachline.poolServiceUrl" (dict "root" $root "pool" .) }}
{{- $pools = append $pools (dict "name" .name "model" .model "engines" (list $engine) "max_num_seqs" (int .maxNumSeqs) "tiers" .tiers "gpu_hour_usd" (float64 (default 0 .gpuHourUsd))) }}
{{- end }}
{{- $file := dict "pools" $pools "tenants" .Values.tenants "default_tenant" .Values.defaultTenant }}
{{- if .Values.cloud.enabled }}
{{- /* sim_profile must be null: its default ("cloud") would send a missing key as "simulated". */}}
{{- $_ := set $file "cloud" (dict "model" .Values.cloud.model "base_url" .Values.cloud.baseUrl "api_key_env" .Values.cloud.apiKeyEnv "input_usd_per_1m" (float64 .Values.cloud.inputUsdPer1m) "output_usd_per_1m" (float64 .Values.cloud.outputUsdPer1m) "sim_profile" nil) }}
{{- end }}
{{- toYaml $file }}
{{- end }}

{{/* Annotations that roll pods when their configuration changes. */}}
{{- define "coachline.podAnnotations" -}}
checksum/pools: {{ include "coachline.poolsFile" . | sha256sum }}
{{- if .Values.secrets.create }}
checksum/secrets: {{ toJson .Values.secrets.values | sha256sum }}
{{- end }}
{{- end }}

{{/* A secretKeyRef env entry: (dict "root" $ "name" "VAR" "key" "k" "optional" bool). */}}
{{- define "coachline.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "coachline.secretName" .root }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
The environment of every coachline container: (dict "root" $ "poolsFile" path "cloudKey" bool
"extra" list). The database and broker come from the Secret; the pools file is the chart's.
*/}}
{{- define "coachline.env" -}}
{{- $root := .root }}
{{ include "coachline.secretEnv" (dict "root" $root "name" "COACHLINE_DATABASE_URL" "key" "database-url") }}
{{ include "coachline.secretEnv" (dict "root" $root "name" "COACHLINE_BROKER_URL" "key" "broker-url") }}
{{ include "coachline.secretEnv" (dict "root" $root "name" "COACHLINE_REDIS_URL" "key" "redis-url" "optional" true) }}
{{- if and .cloudKey $root.Values.cloud.enabled }}
{{ include "coachline.secretEnv" (dict "root" $root "name" $root.Values.cloud.apiKeyEnv "key" "openai-api-key" "optional" true) }}
{{- end }}
- name: COACHLINE_POOLS_FILE
  value: {{ .poolsFile | default "/etc/coachline/pools.yaml" | quote }}
- name: COACHLINE_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: COACHLINE_LOG_JSON
  value: "true"
{{- with $root.Values.env }}
{{ toYaml . }}
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Volumes every coachline pod mounts: the pools file, the metrics directory (in memory: many small
writes, and it must start empty) and /tmp. (dict "root" $ "tmpSize" "1Gi").
*/}}
{{- define "coachline.commonVolumes" -}}
- name: pools
  configMap:
    name: {{ include "coachline.fullname" .root }}-pools
- name: metrics
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
- name: tmp
  emptyDir:
    sizeLimit: {{ .tmpSize | default "1Gi" }}
{{- end }}

{{- define "coachline.commonMounts" -}}
- name: pools
  mountPath: /etc/coachline
  readOnly: true
- name: metrics
  mountPath: /run/coachline/metrics
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Pod-level settings shared by every coachline pod. */}}
{{- define "coachline.podSpecCommon" -}}
serviceAccountName: {{ include "coachline.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Scheduling settings of a component: (dict "cfg" $componentValues). */}}
{{- define "coachline.scheduling" -}}
{{- with .cfg.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .cfg.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Liveness of a Celery role: its /metrics answer on --metrics-port. The server is a thread of the
worker process, so an answer says the process is alive and not wedged; it says nothing of the
broker connection, which Celery itself retries.
*/}}
{{- define "coachline.workerLiveness" -}}
livenessProbe:
  httpGet:
    path: /metrics
    port: metrics
  initialDelaySeconds: 15
  periodSeconds: 30
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}
