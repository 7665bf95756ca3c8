{{/* The app.kubernetes.io/name label: nameOverride, else herald. */}}
{{- define "herald.name" -}}
{{- default "herald" .Values.nameOverride -}}
{{- end -}}

{{/* Prefix of every object name: fullnameOverride, else the release name. */}}
{{- define "herald.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride -}}
{{- end -}}

{{/* Labels of every object (the Helm-only ones: helm.sh/chart, app.kubernetes.io/managed-by). */}}
{{- define "herald.labels" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component; call with (list . "controller"). */}}
{{- define "herald.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "herald.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* A daemon's ServiceAccount, (list . "controller"): the named one, else <fullname>-<daemon> when created, else default. */}}
{{- define "herald.serviceAccountName" -}}
{{- $root := index . 0 -}}
{{- $sa := (index $root.Values (index . 1)).serviceAccount -}}
{{- if $sa.create -}}
{{- default (printf "%s-%s" (include "herald.fullname" $root) (index . 1)) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap both daemons read: an existing one, or the one made from configInline. */}}
{{- define "herald.configMapName" -}}
{{- if .Values.existingConfigMap -}}
{{- .Values.existingConfigMap -}}
{{- else -}}
{{- include "herald.fullname" . }}-config
{{- end -}}
{{- end -}}

{{- define "herald.image" -}}
{{ required "image.repository is required" .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* Pod template metadata of one daemon, (list . "controller"): the chart's labels, podLabels, podAnnotations. */}}
{{- define "herald.podMetadata" -}}
{{- $root := index . 0 -}}
{{- $d := index $root.Values (index . 1) -}}
labels:
  {{- include "herald.labels" $root | nindent 2 }}
  app.kubernetes.io/component: {{ index . 1 }}
  {{- with $d.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $d.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
