variable "project_id" {
  description = "Project of the load balancer and the Secret Manager secret."
  type        = string
  nullable    = false
}

variable "prefix" {
  description = "Prefix of every resource name."
  type        = string
  nullable    = false
}

variable "media_bucket" {
  description = "Name of the media bucket (modules/storage output buckets.media)."
  type        = string
  nullable    = false
}

variable "cdn_fill_agent" {
  description = "Email of the Cloud CDN fill service agent (service-PROJECT_NUMBER@cloud-cdn-fill.iam.gserviceaccount.com)."
  type        = string
  nullable    = false
}

variable "signing_key" {
  description = "Cloud CDN signing key: its key name (what signed URLs carry as KeyName, also KSTREAM_CDN_KEY_NAME) and the Secret Manager secret holding its 16-byte base64url value."
  type = object({
    name           = string
    secret_id      = string
    secret_version = optional(string, "latest")
  })
  nullable = false
  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.signing_key.name))
    error_message = "signing_key.name must be a lowercase RFC 1035 name (letters, digits, hyphens; at most 63)."
  }
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.signing_key.secret_id))
    error_message = "signing_key.secret_id must be a Secret Manager secret id (letters, digits, _ and -)."
  }
}

variable "cache" {
  description = "Cloud CDN cache lifetimes in seconds."
  type = object({
    default_ttl                  = optional(number, 3600)
    serve_while_stale            = optional(number, 86400)
    signed_url_cache_max_age_sec = optional(number, 3600)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.cache.default_ttl >= 0 && var.cache.default_ttl <= 31622400 && var.cache.signed_url_cache_max_age_sec >= 0 && var.cache.serve_while_stale >= 0
    error_message = "Cache lifetimes are seconds >= 0 (default_ttl at most one year)."
  }
}
