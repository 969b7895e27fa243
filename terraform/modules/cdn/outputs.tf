output "backend_bucket" {
  description = "Id of the media backend bucket, for the URL map."
  value       = google_compute_backend_bucket.media.id
}

output "signing_key" {
  description = "Key name, secret id and the secret version number in use (functions read the same version)."
  value = {
    name           = google_compute_backend_bucket_signed_url_key.media.name
    secret_id      = var.signing_key.secret_id
    secret_version = data.google_secret_manager_secret_version.signing_key.version
  }
}

output "fill_agent" {
  description = "Email of the Cloud CDN fill service agent, available once the signing key exists (the agent appears with the project's first key): for read grants on other private buckets served through Cloud CDN (modules/edge's error envelopes)."
  value       = var.cdn_fill_agent
  depends_on  = [google_compute_backend_bucket_signed_url_key.media]
}
