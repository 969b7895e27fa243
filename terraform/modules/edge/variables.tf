variable "project_id" {
  description = "Project of the load balancer."
  type        = string
  nullable    = false
}

variable "prefix" {
  description = "Prefix of every resource name."
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region of the functions (their serverless NEGs are regional)."
  type        = string
  nullable    = false
}

variable "labels" {
  description = "Labels put on the address and forwarding rules."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "domain" {
  description = "DNS name the API and media are served on; the managed certificate is issued for it once its A record points at the load balancer address."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lowercase DNS name such as api.example.com (no scheme, no trailing dot)."
  }
}

variable "functions" {
  description = "HTTP functions to route to, by functions.yaml name (modules/functions output http_functions)."
  type = map(object({
    service      = string
    method       = string
    path         = string
    access       = string
    rate_limited = bool # answers 429 itself (functions.yaml): the edge's 429 response stays off its routes
  }))
  nullable = false
  validation {
    condition     = length(var.functions) > 0 && length(var.functions) < 800
    error_message = "functions must hold between 1 and 799 HTTP functions (route priorities are 100 + i and 1000 + i)."
  }
  validation {
    condition     = alltrue([for f in var.functions : startswith(f.path, "/") && length(regexall("\\{", f.path)) <= 4])
    error_message = "Every path must start with / and have at most 4 parameters (URL map templates allow 5 wildcards, one is the version)."
  }
}

variable "cdn_fill_agent" {
  description = "Email of the Cloud CDN fill service agent (modules/cdn output fill_agent, which exists once a signing key does): it reads the private bucket of the error envelopes."
  type        = string
  nullable    = false
}

variable "media" {
  description = "Cloud CDN backend bucket id (modules/cdn) and the path prefix it is served under (KSTREAM_CDN_BASE_URL is https://<domain><path>)."
  type = object({
    backend_bucket = string
    path           = optional(string, "/media")
  })
  nullable = false
  validation {
    condition     = can(regex("^/[a-z0-9-]+$", var.media.path))
    error_message = "media.path must be one path segment like /media."
  }
}

variable "armor" {
  description = "Cloud Armor limits per client IP, per minute: all requests, upload requests, and the rate that gets a client banned for ban_duration_sec."
  type = object({
    requests_per_minute        = optional(number, 600)
    upload_requests_per_minute = optional(number, 120)
    ban_requests_per_minute    = optional(number, 3000)
    ban_duration_sec           = optional(number, 600)
    adaptive_protection        = optional(bool, true)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.armor.requests_per_minute > 0 && var.armor.upload_requests_per_minute > 0 && var.armor.ban_requests_per_minute > var.armor.requests_per_minute
    error_message = "Limits must be positive and ban_requests_per_minute above requests_per_minute."
  }
  validation {
    condition     = var.armor.ban_duration_sec >= 60
    error_message = "ban_duration_sec must be at least 60."
  }
}

variable "log_sample_rate" {
  description = "Share of requests the load balancer logs (0 to 1)."
  type        = number
  default     = 1
  nullable    = false
  validation {
    condition     = var.log_sample_rate >= 0 && var.log_sample_rate <= 1
    error_message = "log_sample_rate must be between 0 and 1."
  }
}
