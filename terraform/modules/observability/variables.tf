variable "project_id" {
  description = "Project whose logs the metric counts."
  type        = string
  nullable    = false
}

variable "prefix" {
  description = "Prefix of the metric names (<prefix>/http_request_duration_seconds, <prefix>/transcode_outcomes, ...), the alert policies and the dashboard, and of the functions' service names the latency filter selects."
  type        = string
  nullable    = false
}

variable "http_request_field" {
  description = "Where the request log's httpRequest object is found: `httpRequest` (lifted into the LogEntry, what Cloud Run does with a top-level httpRequest key) or `jsonPayload.httpRequest` (if it stays in the payload)."
  type        = string
  default     = "httpRequest"
  nullable    = false
  validation {
    condition     = contains(["httpRequest", "jsonPayload.httpRequest"], var.http_request_field)
    error_message = "http_request_field must be httpRequest or jsonPayload.httpRequest."
  }
}

variable "labels" {
  description = "User labels put on the alert policies."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "functions" {
  description = "The deployed functions (modules/functions output `functions`): Cloud Run service name (`name`) and kind (event, or the HTTP function's access)."
  type = map(object({
    name = string
    kind = string
  }))
  nullable = false
}

variable "event_triggers" {
  description = "Eventarc trigger id (projects/P/locations/L/triggers/T) of each event function; Eventarc names each one's Pub/Sub subscription eventarc-<region>-<T>-sub-<n>."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "dead_letter_subscription" {
  description = "Id (projects/P/subscriptions/S) of the pull subscription that holds dead-lettered events (modules/data)."
  type        = string
  nullable    = false
}

variable "security_policy" {
  description = "Name of the Cloud Armor policy in front of the API (modules/edge)."
  type        = string
  nullable    = false
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channels every alert policy notifies (projects/<project>/notificationChannels/<id>). Empty: incidents open in the console but nobody is paged."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/[0-9]+$", c))])
    error_message = "notification_channels must be channel ids: projects/<project id>/notificationChannels/<number> (gcloud beta monitoring channels list --format='value(name)')."
  }
}

variable "alerts" {
  description = <<-EOT
    Thresholds of the alert policies (alerts.tf):
    error_ratio: share of API requests answered 5xx, over 5 minutes, held for 5 minutes (0-1, default 0.05);
    latency_p95_seconds: p95 request latency of any route, over 5 minutes, held for 10 minutes (default 2.5);
    transcode_failures_per_hour: failed jobs plus timing-out sweeps in one hour above which it fires (default 3);
    dead_letter_messages: events waiting in the dead-letter subscription above which it fires (default 0: any);
    armor_blocked_per_minute: requests Cloud Armor denies (throttle, ban, Log4j rule) per minute, held for 5 minutes (default 600).
  EOT
  type = object({
    error_ratio                 = optional(number, 0.05)
    latency_p95_seconds         = optional(number, 2.5)
    transcode_failures_per_hour = optional(number, 3)
    dead_letter_messages        = optional(number, 0)
    armor_blocked_per_minute    = optional(number, 600)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.alerts.error_ratio > 0 && var.alerts.error_ratio < 1
    error_message = "alerts.error_ratio must be between 0 and 1 (exclusive), e.g. 0.05 for 5%."
  }
  validation {
    condition     = var.alerts.latency_p95_seconds > 0 && var.alerts.latency_p95_seconds <= 300
    error_message = "alerts.latency_p95_seconds must be above 0 and at most 300 (the histogram's range)."
  }
  validation {
    condition     = var.alerts.transcode_failures_per_hour >= 0 && floor(var.alerts.transcode_failures_per_hour) == var.alerts.transcode_failures_per_hour
    error_message = "alerts.transcode_failures_per_hour must be a whole number, at least 0."
  }
  validation {
    condition     = var.alerts.dead_letter_messages >= 0 && floor(var.alerts.dead_letter_messages) == var.alerts.dead_letter_messages
    error_message = "alerts.dead_letter_messages must be a whole number, at least 0 (0: any dead letter fires)."
  }
  validation {
    condition     = var.alerts.armor_blocked_per_minute >= 1
    error_message = "alerts.armor_blocked_per_minute must be at least 1."
  }
}
