# The API's error envelope for Cloud Armor's over-limit answers. Without this, a client over a rate limit of
# armor.tf gets Google's generic 429 page; with it, the load balancer's custom error response (routes.tf) serves
# errors/rate-limit-exceeded.json, a static RATE_LIMIT_EXCEEDED envelope, with status 429 and
# Content-Type: application/json.
#
# A static object cannot know the request: it carries code, message and details, not the timestamp and requestId
# that contracts/envelope.py requires of a function's answer (the spec's own rate-limit example is static in the
# same way). docs/deploy.md says so; tests/unit/test_terraform.py checks the object against that model.
#
# The content lives in its own small private bucket, served by a backend bucket. A backend bucket reads a private
# bucket only through Cloud CDN, as the Cloud CDN fill agent (the media backend bucket of modules/cdn does the same),
# so Cloud CDN is on; the media backend bucket itself cannot serve it, as it answers signed requests only.

locals {
  rate_limit_error = {
    object = "errors/rate-limit-exceeded.json"
    file   = "${path.module}/errors/rate-limit-exceeded.json"
  }
}

resource "google_storage_bucket" "errors" {
  #checkov:skip=CKV_GCP_62:No usage logs for one static object Terraform writes; each error it serves is in the load balancer's request log (log_config of every backend service).
  name                        = "${var.prefix}-${var.project_id}-errors"
  project                     = var.project_id
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only the error objects below live here, rewritten by every apply
  labels                      = var.labels

  versioning {
    enabled = true
  }
}

resource "google_storage_bucket_object" "rate_limit" {
  bucket       = google_storage_bucket.errors.name
  name         = local.rate_limit_error.object
  source       = local.rate_limit_error.file
  content_type = "application/json"
  # Served as the answer to an API request: no browser or proxy may keep a 429 for that request's URL, and
  # Cloud CDN (USE_ORIGIN_HEADERS below) does not cache it either.
  cache_control = "no-store"
}

resource "google_storage_bucket_iam_member" "cdn_fill_reads_errors" {
  bucket = google_storage_bucket.errors.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${var.cdn_fill_agent}"
}

resource "google_compute_backend_bucket" "errors" {
  project     = var.project_id
  name        = "${var.prefix}-edge-errors"
  description = "kstream edge error envelopes (custom error responses of the URL map); not routed to."
  bucket_name = google_storage_bucket.errors.name
  enable_cdn  = true

  cdn_policy {
    cache_mode = "USE_ORIGIN_HEADERS"
  }
}
