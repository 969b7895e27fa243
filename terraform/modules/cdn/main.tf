# Cloud CDN in front of the media bucket. Every request needs a signed URL (or signed cookie) made with the key
# below; the key itself lives in Secret Manager, created by the operator (docs/deploy.md), never in this repository.

data "google_secret_manager_secret_version" "signing_key" {
  project = var.project_id
  secret  = var.signing_key.secret_id
  version = var.signing_key.secret_version
}

resource "google_compute_backend_bucket" "media" {
  project          = var.project_id
  name             = "${var.prefix}-media"
  description      = "kstream media (DASH/HLS renditions) behind Cloud CDN; signed URLs only."
  bucket_name      = var.media_bucket
  enable_cdn       = true
  compression_mode = "AUTOMATIC" # manifests are text; segments are already compressed and left alone

  cdn_policy {
    # Everything in the media bucket is cacheable video, whatever Content-Type the Transcoder API gave it.
    cache_mode         = "FORCE_CACHE_ALL"
    default_ttl        = var.cache.default_ttl
    negative_caching   = true
    serve_while_stale  = var.cache.serve_while_stale
    request_coalescing = true
    # Responses to signed requests are cached as if they said Cache-Control: public, max-age=<this>.
    signed_url_cache_max_age_sec = var.cache.signed_url_cache_max_age_sec
  }
}

resource "google_compute_backend_bucket_signed_url_key" "media" {
  project        = var.project_id
  name           = var.signing_key.name
  backend_bucket = google_compute_backend_bucket.media.name
  key_value      = data.google_secret_manager_secret_version.signing_key.secret_data
}

# Cloud CDN fills its cache as this service agent, which appears once a signing key exists in the project. It reads
# the private media bucket; nobody else does.
resource "google_storage_bucket_iam_member" "cdn_fill_reads_media" {
  bucket     = var.media_bucket
  role       = "roles/storage.objectViewer"
  member     = "serviceAccount:${var.cdn_fill_agent}"
  depends_on = [google_compute_backend_bucket_signed_url_key.media]
}
