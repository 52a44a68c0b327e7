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

{{/* The namespace whose Instances the controller watches, with a Role there; empty when
     it watches every namespace (controller.watchAllNamespaces, with a ClusterRole). */}}
{{- define "fasterclaw.watchNamespace" -}}
{{- if not .Values.controller.watchAllNamespaces -}}
{{ .Values.controller.watchNamespace | default (include "fasterclaw.instanceNamespace" .) }}
{{- end -}}
{{- end -}}

{{/* The facade's TRUSTED_PROXIES: api.trustedProxies, else the Ingress controller's
     ranges when the Ingress is on; empty sets none. */}}
{{- define "fasterclaw.trustedProxies" -}}
{{- if .Values.api.trustedProxies -}}
{{ join "," .Values.api.trustedProxies }}
{{- else if .Values.ingress.enabled -}}
{{ join "," (.Values.ingress.trustedProxies | default list) }}
{{- end -}}
{{- end -}}

{{/* The facade's resources: its memory limit, unless set, is 128Mi and 24Mi per
     password hash computed at once (argon2id takes about 19 MiB each). */}}
{{- define "fasterclaw.apiResources" -}}
{{- $resources := deepCopy (.Values.api.resources | default dict) -}}
{{- $limits := get $resources "limits" | default dict -}}
{{- if not (get $limits "memory") -}}
{{- $_ := set $limits "memory" (printf "%dMi" (add 128 (mul 24 .Values.api.passwordHashConcurrency))) -}}
{{- end -}}
{{- $_ := set $resources "limits" $limits -}}
{{ toYaml $resources }}
{{- end -}}

{{/* Combinations of values the schema cannot refuse with a clear message. */}}
{{- define "fasterclaw.checks" -}}
{{- $c := .Values.controller -}}
{{- if and $c.watchAllNamespaces $c.watchNamespace -}}
{{- fail "controller.watchNamespace and controller.watchAllNamespaces: set one or the other" -}}
{{- end -}}
{{- $watch := include "fasterclaw.watchNamespace" . -}}
{{- if and .Values.api.enabled $watch (ne $watch (include "fasterclaw.instanceNamespace" .)) -}}
{{- fail (printf "the facade creates Instances in %s (api.instanceNamespace) but the controller watches %s (controller.watchNamespace): make them the same, or set controller.watchAllNamespaces" (include "fasterclaw.instanceNamespace" .) $watch) -}}
{{- end -}}
{{- if hasKey .Values.api.env "TRUST_FORWARDED_FOR" -}}
{{- fail "api.env.TRUST_FORWARDED_FOR: the facade no longer reads it and refuses to start when it is set; list the proxies in front of it in api.trustedProxies (or ingress.trustedProxies)" -}}
{{- end -}}
{{- range $name, $value := dict "TRUSTED_PROXIES" "api.trustedProxies" "PASSWORD_HASH_CONCURRENCY" "api.passwordHashConcurrency" "METRICS_ADDR" "the chart (port 9090)" "BILLING_GRACE_PERIOD" "api.billing.gracePeriod" "BILLING_DELETION_DEADLINE" "api.billing.deletionDeadline" "BILLING_DELETION_WARNING" "api.billing.deletionWarning" "BILLING_CHECK_INTERVAL" "api.billing.checkInterval" -}}
{{- if hasKey $.Values.api.env $name -}}
{{- fail (printf "api.env.%s: set by %s, not in api.env" $name $value) -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := dict "WATCH_NAMESPACE" "controller.watchNamespace or controller.watchAllNamespaces" "METRICS_ADDR" "the chart (port 8080)" -}}
{{- if hasKey $.Values.controller.env $name -}}
{{- fail (printf "controller.env.%s: set by %s, not in controller.env" $name $value) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.admissionPolicy.enabled (not (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy")) -}}
{{- fail "admissionPolicy.enabled: the cluster does not serve admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes 1.30 or newer)" -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress rules, by name: include with
     (list $ "dns" "kubernetesApi" "database" "https"). Empty peers: any address. */}}
{{- define "fasterclaw.egress" -}}
{{- $np := (index . 0).Values.networkPolicy -}}
{{- range (rest .) }}
{{- if eq . "dns" }}
# DNS.
- ports:
    - { port: 53, protocol: UDP }
    - { port: 53, protocol: TCP }
{{- else if eq . "kubernetesApi" }}
# The Kubernetes API.
- ports:
    {{- range $np.kubernetesApi.ports }}
    - { port: {{ . }}, protocol: TCP }
    {{- end }}
  {{- with $np.kubernetesApi.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- else if eq . "database" }}
# Postgres.
- ports:
    - { port: {{ $np.databasePort }}, protocol: TCP }
  {{- with $np.databaseTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- else if eq . "https" }}
# HTTPS to Fly.io, Stripe, Telegram and the model APIs.
- ports:
    - { port: 443, protocol: TCP }
  {{- with $np.httpsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- else }}
{{- fail (printf "fasterclaw.egress: no rule %q" .) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A YAML single-quoted string, whatever it holds. */}}
{{- define "fasterclaw.squote" -}}
'{{ replace "'" "''" . }}'
{{- end -}}
