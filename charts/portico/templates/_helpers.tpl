{{/* Names, as the ingress-nginx chart makes them, so objects keep familiar names. */}}
{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "portico.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portico.controller.fullname" -}}
{{- printf "%s-%s" (include "portico.fullname" .) .Values.controller.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portico.defaultBackend.fullname" -}}
{{- printf "%s-%s" (include "portico.fullname" .) .Values.defaultBackend.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The admission webhook's Service, ValidatingWebhookConfiguration and
(self-managed) Secret share this name: FULLNAME-admission, which is
portico-admission, the controller's defaults, for a release named portico.
*/}}
{{- define "portico.admission.fullname" -}}
{{- printf "%s-admission" (include "portico.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The cert-manager Certificate (and its Secret) of the webhook's serving certificate. */}}
{{- define "portico.admission.certificate" -}}
{{- printf "%s-tls" (include "portico.admission.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Whether the controller manages the webhook's CA and certificate itself (it needs RBAC for them). */}}
{{- define "portico.admission.selfManaged" -}}
{{- if and .Values.admission.enabled (not .Values.admission.certManager.enabled) }}true{{ end -}}
{{- end -}}

{{- define "portico.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "portico.labels" -}}
helm.sh/chart: {{ include "portico.chart" . }}
{{ include "portico.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/part-of: {{ include "portico.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of the controller's objects: the common ones, the component, controller.labels. */}}
{{- define "portico.controller.labels" -}}
{{ include "portico.labels" . }}
app.kubernetes.io/component: controller
{{- with .Values.controller.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "portico.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "portico.fullname" .) .Values.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{- define "portico.electionID" -}}
{{- default (printf "%s-leader" (include "portico.fullname" .)) .Values.controller.electionID -}}
{{- end -}}

{{/* registry/image:tag@digest, or image:tag when registry is empty (a local image). */}}
{{- define "portico.image" -}}
{{- if .registry }}{{ .registry }}/{{ end }}{{ .image }}:{{ .tag }}{{ if .digest }}@{{ .digest }}{{ end }}
{{- end -}}

{{/*
The security context both containers of the controller Pod share: never
root, read-only root filesystem, no privilege escalation, every capability
dropped and none added (nginx binds ports below 1024 through the Pod's
net.ipv4.ip_unprivileged_port_start sysctl). These are not values: a values
file cannot weaken them.
*/}}
{{- define "portico.securityContext" -}}
{{- if eq (int .Values.controller.image.runAsUser) 0 -}}
{{- fail "controller.image.runAsUser must not be 0: Portico runs as a non-root user" -}}
{{- end -}}
runAsNonRoot: true
runAsUser: {{ .Values.controller.image.runAsUser }}
runAsGroup: {{ .Values.controller.image.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
{{- with .Values.controller.image.seccompProfile }}
seccompProfile:{{ toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The controller's arguments. extraArgs come last, so they override what the
chart sets (pflag keeps the last value of a flag); a key that is not a flag
of `portico controller` fails the install here instead of crash-looping the
Pod (the list is in _flags.tpl, checked against --help by e2e/chart).
*/}}
{{- define "portico.controller.args" -}}
- controller
- --config-dir=/etc/portico
- --runtime-dir=/tmp/portico
- --configmap=$(POD_NAMESPACE)/{{ include "portico.controller.fullname" . }}
- --controller-class={{ .Values.controller.ingressClassResource.controllerValue }}
{{- with .Values.controller.ingressClass }}
- --ingress-class={{ . }}
{{- end }}
- --election-id={{ include "portico.electionID" . }}
- --status-address=:{{ .Values.controller.metrics.port }}
- --http-port={{ .Values.controller.containerPort.http }}
- --https-port={{ .Values.controller.containerPort.https }}
{{- if and .Values.controller.publishService.enabled .Values.controller.service.enabled }}
- --publish-service={{ default (printf "$(POD_NAMESPACE)/%s" (include "portico.controller.fullname" .)) .Values.controller.publishService.pathOverride }}
{{- end }}
{{- if .Values.controller.scope.enabled }}
- --watch-namespace={{ default "$(POD_NAMESPACE)" .Values.controller.scope.namespace }}
{{- end }}
{{- if .Values.controller.watchIngressWithoutClass }}
- --watch-ingress-without-class=true
{{- end }}
{{- if .Values.defaultBackend.enabled }}
- --default-backend-service=$(POD_NAMESPACE)/{{ include "portico.defaultBackend.fullname" . }}
{{- end }}
{{- with .Values.admission }}
{{- if .enabled }}
- --admission-address=:{{ .port }}
{{- if .certManager.enabled }}
- --admission-cert-dir=/etc/portico-admission
{{- else }}
- --admission-secret={{ include "portico.admission.fullname" $ }}
- --admission-webhook-name={{ include "portico.admission.fullname" $ }}
- --admission-service={{ include "portico.admission.fullname" $ }}
{{- end }}
{{- if .allowConflicts }}
- --admission-allow-conflicts=true
{{- end }}
{{- if .clientCAConfigMap }}
- --admission-client-ca=/etc/portico-admission-client-ca/ca.crt
{{- end }}
{{- end }}
{{- end }}
{{- $flags := include "portico.controllerFlags" . | splitList "\n" }}
{{- range $key, $value := .Values.controller.extraArgs }}
{{- if not (has $key $flags) }}
{{- fail (printf "controller.extraArgs: --%s is not a flag of portico controller (see the chart's README for ingress-nginx flags and what to use instead)" $key) }}
{{- end }}
{{- /* Accept keys without values, as ingress-nginx does. */}}
{{- if eq ($value | quote | len) 2 }}
- --{{ $key }}
{{- else }}
- --{{ $key }}={{ $value }}
{{- end }}
{{- end }}
{{- end -}}
