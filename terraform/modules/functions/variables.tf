variable "project_id" {
  description = "Project that hosts the functions."
  type        = string
  nullable    = false
}

variable "region" {
  description = "Region of the functions, their Eventarc triggers and the image repository."
  type        = string
  nullable    = false
}

variable "prefix" {
  description = "Prefix of every resource name (function <prefix>-<name>, service account <prefix>-<name>)."
  type        = string
  nullable    = false
}

variable "labels" {
  description = "Labels put on every function and the image repository."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "functions_file" {
  description = "Path of functions/functions.yaml, the one list of functions this module deploys."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("\\.ya?ml$", var.functions_file))
    error_message = "functions_file must be the path of the YAML function list."
  }
}

variable "bundle" {
  description = "Deployment bundle: the directory `make bundle` writes (build/function-source), where its zip is written locally, and the bucket it is uploaded to."
  type = object({
    source_dir  = string
    output_path = string
    bucket      = string
  })
  nullable = false
  validation {
    condition     = endswith(var.bundle.output_path, ".zip")
    error_message = "bundle.output_path must end in .zip."
  }
}

variable "settings" {
  description = "Values of the KSTREAM_* settings (see settings.tf); each function receives only those its functions.yaml entry lists. Secrets are Secret Manager secret ids and versions, never values. `extra` adds KSTREAM_* values (no secrets) for every function that lists them."
  type = object({
    buckets = object({
      upload = string
      source = string
      media  = string
    })
    transcoder_topic    = string
    transcoder_location = string
    cdn_base_url        = string
    cdn_key = object({
      name           = string
      secret_id      = string
      secret_version = string
    })
    callback_secret = object({
      secret_id      = string
      secret_version = optional(string, "latest")
    })
    transcode_timeout_seconds = optional(number, 21600)
    service_callers           = list(string)
    service_audience          = string
    storage_public_url        = optional(string, "https://storage.googleapis.com")
    api_base_url              = optional(string, "")
    cors_allowed_origins      = optional(list(string), [])
    extra                     = optional(map(string), {})
  })
  nullable = false
  validation {
    condition     = alltrue([for k in keys(var.settings.extra) : startswith(k, "KSTREAM_") && !endswith(k, "_SECRET")])
    error_message = "settings.extra keys must be KSTREAM_* settings, and no *_SECRET: secrets come from Secret Manager (settings.tf secret_settings)."
  }
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.settings.callback_secret.secret_id)) && can(regex("^(latest|[1-9][0-9]*)$", var.settings.callback_secret.secret_version))
    error_message = "settings.callback_secret: secret_id must be a Secret Manager secret id (letters, digits, _ and -), secret_version \"latest\" or a version number."
  }
  validation {
    condition     = var.settings.transcode_timeout_seconds >= 1 && floor(var.settings.transcode_timeout_seconds) == var.settings.transcode_timeout_seconds
    error_message = "settings.transcode_timeout_seconds must be a whole number of seconds, at least 1."
  }
  validation {
    condition     = alltrue([for e in var.settings.service_callers : can(regex("^[a-z][-a-z0-9]*@[-a-z0-9.]+\\.gserviceaccount\\.com$", e))])
    error_message = "settings.service_callers must be service account emails (...@....gserviceaccount.com)."
  }
  validation {
    condition     = startswith(var.settings.service_audience, "https://") && startswith(var.settings.cdn_base_url, "https://")
    error_message = "settings.service_audience and settings.cdn_base_url must be https:// URLs."
  }
}

variable "event_sources" {
  description = "What the `bucket` and `topic` roles of functions.yaml event entries name: bucket names by role (upload, source, media) and topic ids (projects/P/topics/T) by role (transcoder_events, sweeper)."
  type = object({
    buckets = map(string)
    topics  = map(string)
  })
  nullable = false
}

variable "dead_letter" {
  description = "Dead-letter topic id (projects/P/topics/T) for every event trigger, and delivery attempts before an event goes there (5-100)."
  type = object({
    topic                 = string
    max_delivery_attempts = optional(number, 10)
  })
  nullable = false
  validation {
    condition     = var.dead_letter.max_delivery_attempts >= 5 && var.dead_letter.max_delivery_attempts <= 100
    error_message = "dead_letter.max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "service_agents" {
  description = "Emails of the Cloud Storage and Pub/Sub service agents (modules/project output service_agents)."
  type = object({
    storage = string
    pubsub  = string
  })
  nullable = false
}

variable "scaling" {
  description = "Caps on functions.yaml's instance counts (dev sets min_instances_cap = 0 so nothing idles at a cost)."
  type = object({
    min_instances_cap = optional(number, 100)
    max_instances_cap = optional(number, 1000)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.scaling.min_instances_cap >= 0 && var.scaling.max_instances_cap >= 1
    error_message = "scaling caps: min_instances_cap >= 0, max_instances_cap >= 1."
  }
}

variable "viewer_scaling" {
  description = "Min/max instances of the viewer's read path (the functions whose permission is videos:read or videos:stream), replacing functions.yaml's counts for them within `scaling`'s caps; null keeps the list's. Sized for a premiere in docs/scale.md."
  type = object({
    min_instances = optional(number)
    max_instances = optional(number)
  })
  default  = {}
  nullable = false
  validation {
    condition = (var.viewer_scaling.min_instances == null ? true : var.viewer_scaling.min_instances >= 0) && (
      var.viewer_scaling.max_instances == null ? true : var.viewer_scaling.max_instances >= 1) && (
      var.viewer_scaling.min_instances == null || var.viewer_scaling.max_instances == null ? true :
    var.viewer_scaling.min_instances <= var.viewer_scaling.max_instances)
    error_message = "viewer_scaling: min_instances >= 0, max_instances >= 1, min_instances <= max_instances."
  }
}

variable "post_deploy" {
  description = "Run scripts/post-deploy.sh (gcloud) after deploys: invoker IAM check off for HTTP functions, dead-lettering on event subscriptions. Turn off only where gcloud is missing, and run the script by hand."
  type = object({
    enabled = optional(bool, true)
  })
  default  = {}
  nullable = false
}
