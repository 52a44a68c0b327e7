{{/* The release's base name, at most 63 characters. */}}
{{- define "fasterclaw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "fasterclaw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: include with (list $ "controller"). */}}
{{- define "fasterclaw.selector" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ $.Chart.Name }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "fasterclaw.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "fasterclaw.instanceNamespace" -}}
{{ .Values.api.instanceNamespace | default .Release.Namespace }}
{{- end -}}

{{- define "fasterclaw.secretName" -}}
{{ required "existingSecret: name the Secret that holds DATABASE_URL, ENCRYPTION_KEY, FLY_API_TOKEN and API_JWT_SECRET" .Values.existingSecret }}
{{- end -}}

{{/* Environment variables read from the existing Secret: include with
     (list $ (list "REQUIRED_KEY" ...) (list "OPTIONAL_KEY" ...)). */}}
{{- define "fasterclaw.secretEnv" -}}
{{- $ := index . 0 -}}
{{- range (index . 1) }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "fasterclaw.secretName" $ }}
      key: {{ . }}
{{- end }}
{{- range (index . 2) }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "fasterclaw.secretName" $ }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end -}}

{{/* Plain settings from a map, sorted. */}}
{{- define "fasterclaw.plainEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "fasterclaw.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "fasterclaw.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}
