output "buckets" {
  description = "Bucket names by role: upload, source, media, bundles."
  value = {
    upload  = google_storage_bucket.upload.name
    source  = google_storage_bucket.source.name
    media   = google_storage_bucket.media.name
    bundles = google_storage_bucket.bundles.name
  }
}
