variable "project_id" {
  description = "Project that owns the buckets."
  type        = string
  nullable    = false
}

variable "prefix" {
  description = "Prefix of every resource name (bucket names are <prefix>-<project_id>-<role>)."
  type        = string
  nullable    = false
}

variable "location" {
  description = "Bucket location: the functions' region, so that Eventarc storage triggers and reads stay regional."
  type        = string
  nullable    = false
}

variable "labels" {
  description = "Labels put on every bucket."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "transcoder_agent" {
  description = "Email of the Transcoder API service agent (service-PROJECT_NUMBER@gcp-sa-transcoder.iam.gserviceaccount.com)."
  type        = string
  nullable    = false
}

variable "config" {
  description = "Bucket behaviour: browser origins allowed to PUT chunks and play media, retention periods, and whether buckets holding data may be destroyed with their objects (dev only)."
  type = object({
    cors_origins            = list(string)
    abandoned_upload_days   = optional(number, 2)
    noncurrent_version_days = optional(number, 30)
    bundle_retention_days   = optional(number, 180)
    force_destroy           = optional(bool, false)
  })
  nullable = false
  validation {
    condition     = length(var.config.cors_origins) > 0 && alltrue([for o in var.config.cors_origins : can(regex("^https?://[^/*]+$", o))])
    error_message = "config.cors_origins must list at least one origin like https://app.example.com (scheme and host, no path, no wildcard)."
  }
  validation {
    condition     = var.config.abandoned_upload_days >= 1 && var.config.noncurrent_version_days >= 1 && var.config.bundle_retention_days >= 1
    error_message = "Retention periods are whole days, at least 1."
  }
}
