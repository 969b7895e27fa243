# The project's enabled APIs and the Google service agents other modules grant roles to.

locals {
  # Every API kstream calls or deploys through. Disabling is never done by Terraform (disable_on_destroy = false):
  # turning an API off breaks whatever still uses it, and that is an operator's decision.
  services = toset(concat([
    "artifactregistry.googleapis.com",     # function images
    "cloudbuild.googleapis.com",           # function builds
    "cloudfunctions.googleapis.com",       # the functions
    "cloudresourcemanager.googleapis.com", # project IAM, project number look-up
    "cloudscheduler.googleapis.com",       # the stuck-job sweep's schedule
    "compute.googleapis.com",              # load balancer, Cloud CDN, Cloud Armor
    "eventarc.googleapis.com",             # event triggers
    "firestore.googleapis.com",            # catalog, sessions
    "iam.googleapis.com",                  # service accounts
    "iamcredentials.googleapis.com",       # signBlob for V4 signed URLs (no key files)
    "identitytoolkit.googleapis.com",      # Firebase Authentication
    "logging.googleapis.com",              # structured logs, log-based metric
    "monitoring.googleapis.com",           # metrics
    "pubsub.googleapis.com",               # transcoder events, Eventarc transport
    "run.googleapis.com",                  # Cloud Run, under the functions
    "secretmanager.googleapis.com",        # Cloud CDN signing key
    "storage.googleapis.com",              # buckets
    "transcoder.googleapis.com",           # Transcoder API
  ], var.extra_services))

  # Service agents that are not created by google_project_service_identity below.
  project_number = data.google_project.this.number
}

resource "google_project_service" "this" {
  for_each                   = local.services
  project                    = var.project_id
  service                    = each.value
  disable_on_destroy         = false
  disable_dependent_services = false
}

data "google_project" "this" {
  project_id = var.project_id
}

# Service agents are created lazily by Google; asking for their identity creates them now, so that IAM bindings
# on them (Transcoder publishing to our topic, Pub/Sub forwarding to the dead-letter topic) do not fail on a
# fresh project.
resource "google_project_service_identity" "this" {
  provider   = google-beta
  for_each   = toset(["pubsub.googleapis.com", "transcoder.googleapis.com", "eventarc.googleapis.com"])
  project    = var.project_id
  service    = each.value
  depends_on = [google_project_service.this]
}

data "google_storage_project_service_account" "this" {
  project    = var.project_id
  depends_on = [google_project_service.this]
}
