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
  default     = "asia-northeast3"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as asia-northeast3."
  }
}

variable "prefix" {
  description = "Prefix of every resource name (3-12 lowercase letters, digits, hyphens). Names are derived from it, never random."
  type        = string
  default     = "kstream-dev"
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
  description = "Buckets: web origins allowed to PUT upload chunks and fetch media, retention periods; dev buckets may be destroyed with their objects."
  type = object({
    cors_origins            = list(string)
    abandoned_upload_days   = optional(number, 2)
    noncurrent_version_days = optional(number, 30)
    bundle_retention_days   = optional(number, 180)
    force_destroy           = optional(bool, true)
  })
  nullable = false
}

variable "firestore" {
  description = "Firestore: location (default: region; cannot change once created); dev has neither point-in-time recovery nor delete protection."
  type = object({
    location               = optional(string)
    point_in_time_recovery = optional(bool, false)
    delete_protection      = optional(bool, false)
  })
  default  = {}
  nullable = false
}

variable "cdn" {
  description = "Cloud CDN: the signing key (name and the Secret Manager secret holding it, created per docs/deploy.md) and cache lifetimes."
  type = object({
    signing_key = object({
      name           = optional(string, "kstream-dev-media-key-1")
      secret_id      = optional(string, "kstream-dev-cdn-signing-key")
      secret_version = optional(string, "latest")
    })
    cache = optional(object({
      default_ttl                  = optional(number, 3600)
      serve_while_stale            = optional(number, 86400)
      signed_url_cache_max_age_sec = optional(number, 3600)
    }), {})
  })
  default  = { signing_key = {} }
  nullable = false
}

variable "callback_signing" {
  description = "Secret Manager secret holding the HMAC-SHA256 key that signs transcode completion callbacks (KSTREAM_CALLBACK_SIGNING_SECRET), created by the operator per docs/deploy.md, and the version the functions read (\"latest\" or a number)."
  type = object({
    secret_id      = optional(string, "kstream-dev-callback-signing-secret")
    secret_version = optional(string, "latest")
  })
  default  = {}
  nullable = false
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.callback_signing.secret_id)) && can(regex("^(latest|[1-9][0-9]*)$", var.callback_signing.secret_version))
    error_message = "callback_signing: secret_id must be a Secret Manager secret id (letters, digits, _ and -), secret_version \"latest\" or a version number."
  }
}

variable "armor" {
  description = "Cloud Armor limits per client IP and minute (see modules/edge)."
  type = object({
    requests_per_minute        = optional(number, 600)
    upload_requests_per_minute = optional(number, 120)
    ban_requests_per_minute    = optional(number, 3000)
    ban_duration_sec           = optional(number, 600)
    adaptive_protection        = optional(bool, true)
  })
  default  = {}
  nullable = false
}

variable "scaling" {
  description = "Caps on the instance counts of functions.yaml: in dev nothing idles (min 0) and nothing scales far."
  type = object({
    min_instances_cap = optional(number, 0)
    max_instances_cap = optional(number, 5)
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
  description = "Labels put on every resource that takes labels."
  type        = map(string)
  default     = { app = "kstream", env = "dev" }
  nullable    = false
}
