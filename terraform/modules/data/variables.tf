variable "project_id" {
  description = "Project that owns the database and topics."
  type        = string
  nullable    = false
}

variable "prefix" {
  description = "Prefix of every resource name."
  type        = string
  nullable    = false
}

variable "labels" {
  description = "Labels put on the topics and subscriptions."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "indexes_file" {
  description = "Path of functions/firestore.indexes.json (Firebase CLI format); every index and field override in it is deployed."
  type        = string
  nullable    = false
  validation {
    condition     = endswith(var.indexes_file, ".json")
    error_message = "indexes_file must be the path of a .json file."
  }
}

variable "firestore" {
  description = "Firestore database: its id, location (a region or multi-region such as nam5; cannot change once created), point-in-time recovery and delete protection."
  type = object({
    location               = string
    database               = optional(string, "(default)")
    point_in_time_recovery = optional(bool, true)
    delete_protection      = optional(bool, true)
  })
  nullable = false
  validation {
    condition     = can(regex("^[a-z0-9-]+$", var.firestore.location))
    error_message = "firestore.location must be a Firestore location id such as asia-northeast3 or nam5."
  }
}

variable "service_agents" {
  description = "Emails of the Transcoder and Pub/Sub service agents (modules/project output service_agents)."
  type = object({
    transcoder = string
    pubsub     = string
  })
  nullable = false
}
