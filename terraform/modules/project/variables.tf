variable "project_id" {
  description = "Google Cloud project id that hosts kstream."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "extra_services" {
  description = "APIs to enable beside the ones kstream needs (e.g. firebase.googleapis.com)."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for s in var.extra_services : endswith(s, ".googleapis.com")])
    error_message = "extra_services entries must be API names ending in .googleapis.com."
  }
}
