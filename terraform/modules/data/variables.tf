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

variable "region" {
  description = "Region of the Cloud Scheduler job that starts the stuck-job sweep (the functions' region)."
  type        = string
  nullable    = false
}

variable "sweep_schedule" {
  description = "When Cloud Scheduler starts the stuck-job sweep: a unix-cron expression of five fields, in UTC (default every 15 minutes)."
  type        = string
  default     = "*/15 * * * *"
  nullable    = false
  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){4}$", var.sweep_schedule))
    error_message = "sweep_schedule must be a unix-cron expression of five space-separated fields, e.g. \"*/15 * * * *\"."
  }
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
  description = "Emails of the Transcoder, Pub/Sub and Cloud Scheduler service agents (modules/project output service_agents)."
  type = object({
    transcoder = string
    pubsub     = string
    scheduler  = string
  })
  nullable = false
}
