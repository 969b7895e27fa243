# What changes per deployment of this environment, from terraform.tfvars or -var (cloudbuild.yaml passes the first six;
# notification_channels: docs/deploy.md, "Alerts and dashboard").
# ../../stack/variables.tf types and validates each value; the rest of what prod is, is in main.tf.

variable "project_id" {
  description = "Google Cloud project id of this environment."
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region of the functions, buckets, triggers and (unless firestore.location says otherwise) Firestore."
  type        = string
  default     = "asia-northeast3"
  nullable    = false
}

variable "prefix" {
  description = "Prefix of every resource name (3-12 lowercase letters, digits, hyphens). Names are derived from it, never random."
  type        = string
  default     = "kstream"
  nullable    = false
}

variable "domain" {
  description = "DNS name of the API and media (e.g. api.kstream.example); the managed certificate is issued for it."
  type        = string
  nullable    = false
}

variable "service_callers" {
  description = "Service accounts allowed to call the `access: service` endpoints (KSTREAM_SERVICE_ACCOUNTS), e.g. the content pipeline's."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "storage" {
  description = "Buckets: cors_origins, the web origins allowed to PUT upload chunks and fetch media (required), and optionally the retention periods and force_destroy (see ../../stack/variables.tf)."
  type        = any
  nullable    = false
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channels (projects/<project>/notificationChannels/<id>) the alert policies notify; empty pages nobody."
  type        = list(string)
  default     = []
  nullable    = false
}
