{{/*
A Celery role on the CPU image, as a Deployment and the headless Service its metrics are scraped
through: (dict "root" $ "component" "router" "cfg" .Values.router "args" list "autoscaled" bool
"cloudKey" bool "strategy" dict "volumes" list "mounts" list "extraEnv" list).
*/}}
{{- define "coachline.cpuWorker" -}}
{{- $root := .root }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "coachline.fullname" $root }}-{{ .component }}
  labels:
    {{- include "coachline.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .cfg.replicas | default 1 }}
  {{- end }}
  {{- with .strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "coachline.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "coachline.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
      annotations:
        {{- include "coachline.podAnnotations" $root | nindent 8 }}
    spec:
      {{- include "coachline.podSpecCommon" $root | nindent 6 }}
      terminationGracePeriodSeconds: {{ .cfg.terminationGracePeriodSeconds }}
      {{- include "coachline.scheduling" (dict "cfg" .cfg) | nindent 6 }}
      containers:
        - name: {{ .component }}
          image: {{ include "coachline.image" (dict "root" $root "image" "worker") }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          env:
            {{- include "coachline.env" (dict "root" $root "cloudKey" .cloudKey "extra" (concat (.extraEnv | default list) (.cfg.env | default list))) | nindent 12 }}
          ports:
            - name: metrics
              containerPort: {{ $root.Values.metricsPort }}
              protocol: TCP
          {{- include "coachline.workerLiveness" $root | nindent 10 }}
          resources:
            {{- toYaml .cfg.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "coachline.commonMounts" $root | nindent 12 }}
            {{- with .mounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "coachline.commonVolumes" (dict "root" $root) | nindent 8 }}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "coachline.fullname" $root }}-{{ .component }}
  labels:
    {{- include "coachline.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    coachline.io/metrics: worker
spec:
  # Headless: only Prometheus reaches these pods, one target per pod.
  clusterIP: None
  selector:
    {{- include "coachline.selectorLabels" (dict "root" $root "component" .component) | nindent 4 }}
  ports:
    - name: metrics
      port: {{ $root.Values.metricsPort }}
      targetPort: metrics
      protocol: TCP
{{- end }}

{{/* `coachline worker ROLE` arguments: (dict "root" $ "role" "router" "cfg" .Values.router). */}}
{{- define "coachline.workerArgs" -}}
{{- $args := list "coachline" "worker" .role "--metrics-port" (toString .root.Values.metricsPort) }}
{{- with .cfg.concurrency }}
{{- $args = concat $args (list "--concurrency" (toString .)) }}
{{- end }}
{{- toYaml $args }}
{{- end }}
