# kstream prod: the whole of kstream (../../stack) with prod's values. What makes it prod is all in this file:
# nothing holding data may be destroyed with it, Firestore keeps point-in-time recovery, functions scale far.
# Per deployment (project, domain, web origins...) come from variables.tf: terraform.tfvars or -var (cloudbuild.yaml).

terraform {
  # State lives in a GCS bucket made once by hand (docs/deploy.md):
  #   terraform init -backend-config=bucket=<state bucket> -backend-config=prefix=kstream/prod
  backend "gcs" {}
}

locals {
  labels = { app = "kstream", env = "prod" }
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
  # Paging: prod must be given its on-call channels (docs/deploy.md, "Alerts and dashboard").
  notification_channels = var.notification_channels
  labels                = local.labels

  storage   = merge({ force_destroy = false }, var.storage) # never in prod
  firestore = { point_in_time_recovery = true, delete_protection = true }
  scaling   = { min_instances_cap = 100, max_instances_cap = 1000 }
  # The viewer's read path sized for a premiere of 100 000 viewers (docs/scale.md): one warm instance each, room to
  # scale far past functions.yaml's 20. For the premiere's hour raise min_instances (docs/scale.md says to what).
  viewer_scaling = { min_instances = 1, max_instances = 100 }

  # Secret Manager secrets the operator creates (docs/deploy.md); a rotation changes them here.
  cdn              = { signing_key = { name = "kstream-media-key-1", secret_id = "kstream-cdn-signing-key" } }
  callback_signing = { secret_id = "kstream-callback-signing-secret" }
}
