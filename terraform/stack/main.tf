# kstream, one environment: the wiring of the modules, shared by every environment root (environments/<env>), which
# configures the providers and the state backend and gives this module what differs between environments.
# Everything about the functions comes from functions/functions.yaml; everything about Firestore indexes from
# functions/firestore.indexes.json.

locals {
  repo_root  = "${path.module}/../.."
  public_url = "https://${var.domain}"
  media_path = "/media"
}

module "project" {
  source         = "../modules/project"
  project_id     = var.project_id
  extra_services = var.extra_services
}

module "storage" {
  source           = "../modules/storage"
  project_id       = module.project.project_id
  prefix           = var.prefix
  location         = var.region
  labels           = var.labels
  transcoder_agent = module.project.service_agents.transcoder
  config           = var.storage
}

module "data" {
  source         = "../modules/data"
  project_id     = module.project.project_id
  prefix         = var.prefix
  labels         = var.labels
  region         = var.region
  sweep_schedule = var.sweep_schedule
  indexes_file   = "${local.repo_root}/functions/firestore.indexes.json"
  firestore = {
    location               = coalesce(var.firestore.location, var.region)
    point_in_time_recovery = var.firestore.point_in_time_recovery
    delete_protection      = var.firestore.delete_protection
  }
  service_agents = module.project.service_agents
}

module "cdn" {
  source         = "../modules/cdn"
  project_id     = module.project.project_id
  prefix         = var.prefix
  media_bucket   = module.storage.buckets.media
  cdn_fill_agent = module.project.service_agents.cdn_fill
  signing_key    = var.cdn.signing_key
  cache          = var.cdn.cache
}

module "functions" {
  source         = "../modules/functions"
  project_id     = module.project.project_id
  region         = var.region
  prefix         = var.prefix
  labels         = var.labels
  functions_file = "${local.repo_root}/functions/functions.yaml"

  bundle = {
    source_dir  = coalesce(var.bundle_dir, "${local.repo_root}/build/function-source")
    output_path = "${path.root}/.terraform/${var.prefix}-bundle.zip"
    bucket      = module.storage.buckets.bundles
  }

  settings = {
    buckets                   = module.storage.buckets
    transcoder_topic          = module.data.topic_names.transcoder_events
    transcoder_location       = coalesce(var.transcoder_location, var.region)
    cdn_base_url              = "${local.public_url}${local.media_path}"
    cdn_key                   = module.cdn.signing_key
    callback_secret           = var.callback_signing
    service_callers           = var.service_callers
    transcode_timeout_seconds = var.transcode_timeout_seconds
    service_audience          = local.public_url
    api_base_url              = local.public_url
    cors_allowed_origins      = var.cors_allowed_origins
    extra                     = var.extra_settings
  }

  event_sources = {
    buckets = module.storage.buckets
    topics = {
      transcoder_events = module.data.topics.transcoder_events
      sweeper           = module.data.topics.sweeper
    }
  }

  dead_letter = {
    topic                 = module.data.topics.dead_letter
    max_delivery_attempts = var.max_delivery_attempts
  }

  service_agents = module.project.service_agents
  scaling        = var.scaling
  viewer_scaling = var.viewer_scaling
}

module "edge" {
  source     = "../modules/edge"
  project_id = module.project.project_id
  prefix     = var.prefix
  region     = var.region
  labels     = var.labels
  domain     = var.domain
  functions  = module.functions.http_functions
  armor      = var.armor

  # Reads the private bucket of the edge's error envelopes (errors.tf); from modules/cdn so that the grant waits
  # for the signing key that makes the agent exist.
  cdn_fill_agent = module.cdn.fill_agent

  media = {
    backend_bucket = module.cdn.backend_bucket
    path           = local.media_path
  }
}

module "observability" {
  source                   = "../modules/observability"
  project_id               = module.project.project_id
  prefix                   = var.prefix
  labels                   = var.labels
  functions                = module.functions.functions
  event_triggers           = module.functions.event_triggers
  dead_letter_subscription = module.data.dead_letter_subscription
  security_policy          = module.edge.security_policy
  notification_channels    = var.notification_channels
  alerts                   = var.alerts
}
