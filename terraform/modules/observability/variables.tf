variable "project_id" {
  description = "Project whose logs the metric counts."
  type        = string
  nullable    = false
}

variable "prefix" {
  description = "Prefix of the metric name (<prefix>/request_latency) and of the functions' service names the filter selects."
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
