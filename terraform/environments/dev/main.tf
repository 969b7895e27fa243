# kstream dev: the whole of kstream (../../stack) with dev's values. What makes it dev is all in this file: its
# buckets and database may be destroyed with their data, nothing idles at a cost, and its keys are its own.
# Per deployment (project, domain, web origins...) come from variables.tf: terraform.tfvars or -var (cloudbuild.yaml).

terraform {
  # State lives in a GCS bucket made once by hand (docs/deploy.md):
  #   terraform init -backend-config=bucket=<state bucket> -backend-config=prefix=kstream/dev
  backend "gcs" {}
}

locals {
  labels = { app = "kstream", env = "dev" }
}

# Provider versions are pinned once, in ../../stack/versions.tf.
provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

provider "google-beta" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

module "stack" {
  source          = "../../stack"
  project_id      = var.project_id
  region          = var.region
  prefix          = var.prefix
  domain          = var.domain
  service_callers = var.service_callers
  # Paging: dev pages nobody unless channels are given (incidents still open in the console).
  notification_channels = var.notification_channels
  labels                = local.labels

  storage   = merge({ force_destroy = true }, var.storage) # buckets may be destroyed with their objects
  firestore = { point_in_time_recovery = false, delete_protection = false }
  scaling   = { min_instances_cap = 0, max_instances_cap = 5 } # nothing idles, nothing scales far

  # Secret Manager secrets the operator creates (docs/deploy.md); a rotation changes them here.
  cdn              = { signing_key = { name = "kstream-dev-media-key-1", secret_id = "kstream-dev-cdn-signing-key" } }
  callback_signing = { secret_id = "kstream-dev-callback-signing-secret" }
}
