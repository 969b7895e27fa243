# Inputs of one environment. What differs between environments has no default here: each environment root
# (environments/<env>/main.tf) gives it, so that dev and prod say side by side what they are. Where a module
# owns a default (armor, CDN cache lifetimes, bucket retention), an unset attribute stays null and that
# module's default applies, stated once.

variable "project_id" {
  description = "Google Cloud project id of this environment."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Region of the functions, buckets, triggers and (unless firestore.location says otherwise) Firestore."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as asia-northeast3."
  }
}

variable "prefix" {
  description = "Prefix of every resource name (3-12 lowercase letters, digits, hyphens). Names are derived from it, never random."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,10}[a-z0-9]$", var.prefix))
    error_message = "prefix must be 3-12 characters: a lowercase letter, then letters, digits or hyphens, not ending in a hyphen."
  }
}

variable "domain" {
  description = "DNS name of the API and media (e.g. api.kstream.example); the managed certificate is issued for it."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lowercase DNS name such as api.example.com (no scheme, no trailing dot)."
  }
}

variable "service_callers" {
  description = "Service accounts allowed to call the `access: service` endpoints (KSTREAM_SERVICE_ACCOUNTS), e.g. the content pipeline's."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for e in var.service_callers : can(regex("^[a-z][-a-z0-9]*@[-a-z0-9.]+\\.gserviceaccount\\.com$", e))])
    error_message = "service_callers must be service account emails."
  }
}

variable "storage" {
  description = "Buckets: web origins allowed to PUT upload chunks and fetch media, retention periods (unset: modules/storage's 2, 30 and 180 days), and force_destroy, whether buckets holding data may be destroyed with their objects (dev buckets may; never in prod)."
  type = object({
    cors_origins            = list(string)
    abandoned_upload_days   = optional(number)
    noncurrent_version_days = optional(number)
    bundle_retention_days   = optional(number)
    force_destroy           = bool
  })
  nullable = false
}

variable "firestore" {
  description = "Firestore: location (default: region; cannot change once created), point-in-time recovery, delete protection (prod has both; dev has neither)."
  type = object({
    location               = optional(string)
    point_in_time_recovery = bool
    delete_protection      = bool
  })
  nullable = false
}

variable "cdn" {
  description = "Cloud CDN: the signing key (name and the Secret Manager secret holding it, created per docs/deploy.md; version unset: latest) and cache lifetimes (unset: modules/cdn's)."
  type = object({
    signing_key = object({
      name           = string
      secret_id      = string
      secret_version = optional(string)
    })
    cache = optional(object({
      default_ttl                  = optional(number)
      serve_while_stale            = optional(number)
      signed_url_cache_max_age_sec = optional(number)
    }), {})
  })
  nullable = false
}

variable "callback_signing" {
  description = "Secret Manager secret holding the HMAC-SHA256 key that signs transcode completion callbacks (KSTREAM_CALLBACK_SIGNING_SECRET), created by the operator per docs/deploy.md, and the version the functions read (\"latest\" or a number)."
  type = object({
    secret_id      = string
    secret_version = optional(string, "latest")
  })
  nullable = false
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.callback_signing.secret_id)) && can(regex("^(latest|[1-9][0-9]*)$", var.callback_signing.secret_version))
    error_message = "callback_signing: secret_id must be a Secret Manager secret id (letters, digits, _ and -), secret_version \"latest\" or a version number."
  }
}

variable "armor" {
  description = "Cloud Armor limits per client IP and minute (see modules/edge)."
  type = object({
    requests_per_minute        = optional(number)
    upload_requests_per_minute = optional(number)
    ban_requests_per_minute    = optional(number)
    ban_duration_sec           = optional(number)
    adaptive_protection        = optional(bool)
  })
  default  = {}
  nullable = false
}

variable "scaling" {
  description = "Caps on the instance counts of functions.yaml (in dev nothing idles, min 0, and nothing scales far)."
  type = object({
    min_instances_cap = number
    max_instances_cap = number
  })
  nullable = false
}

variable "viewer_scaling" {
  description = "Min/max instances of the viewer's read path (videos:read and videos:stream functions), replacing functions.yaml's within the caps of `scaling` (docs/scale.md); null keeps the list's."
  type = object({
    min_instances = optional(number)
    max_instances = optional(number)
  })
  default  = {}
  nullable = false
}

variable "transcoder_location" {
  description = "Transcoder API location (KSTREAM_TRANSCODER_LOCATION); null means the region."
  type        = string
  default     = null
}

variable "transcode_timeout_seconds" {
  description = "Seconds a transcoding job may run before the stuck-job sweep fails it (KSTREAM_TRANSCODE_TIMEOUT_SECONDS, for the functions whose functions.yaml env lists it)."
  type        = number
  default     = 21600
  nullable    = false
  validation {
    condition     = var.transcode_timeout_seconds >= 1 && floor(var.transcode_timeout_seconds) == var.transcode_timeout_seconds
    error_message = "transcode_timeout_seconds must be a whole number of seconds, at least 1."
  }
}

variable "sweep_schedule" {
  description = "When Cloud Scheduler starts the stuck-job sweep: unix-cron, five fields, UTC (default every 15 minutes)."
  type        = string
  default     = "*/15 * * * *"
  nullable    = false
  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){4}$", var.sweep_schedule))
    error_message = "sweep_schedule must be a unix-cron expression of five space-separated fields, e.g. \"*/15 * * * *\"."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of an event before it goes to the dead-letter topic (5-100)."
  type        = number
  default     = 10
  nullable    = false
}

variable "cors_allowed_origins" {
  description = "Origins (https://partner.example) whose browser requests to the API may carry credentials (KSTREAM_CORS_ALLOWED_ORIGINS): reflected with Access-Control-Allow-Credentials. Others get Access-Control-Allow-Origin: * (uncredentialed reads)."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : can(regex("^https?://[^/?#]+$", o))])
    error_message = "cors_allowed_origins: each is scheme://host[:port], nothing after it."
  }
}

variable "extra_settings" {
  description = "Further KSTREAM_* values (e.g. KSTREAM_LOG_LEVEL), given to the functions whose functions.yaml env lists them."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "extra_services" {
  description = "APIs to enable beside kstream's own."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "bundle_dir" {
  description = "Directory made by `make bundle`; null means build/function-source at the repository root."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on every resource that takes labels (the environment root also makes them the providers' default_labels)."
  type        = map(string)
  nullable    = false
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channels (projects/<project>/notificationChannels/<id>) every alert policy notifies; empty pages nobody (incidents still open in the console). modules/observability validates them."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "alerts" {
  description = "Alert thresholds (unset: modules/observability's, which also validates them): error_ratio (API 5xx share, 0.05), latency_p95_seconds (2.5), transcode_failures_per_hour (3), dead_letter_messages (0: any), armor_blocked_per_minute (600)."
  type = object({
    error_ratio                 = optional(number)
    latency_p95_seconds         = optional(number)
    transcode_failures_per_hour = optional(number)
    dead_letter_messages        = optional(number)
    armor_blocked_per_minute    = optional(number)
  })
  default  = {}
  nullable = false
}
