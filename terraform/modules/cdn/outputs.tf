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
