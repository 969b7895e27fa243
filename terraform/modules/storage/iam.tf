# Bucket access of Google service agents. Function accounts get theirs in modules/functions (derived from the
# settings each function reads); the Cloud CDN fill agent gets its in modules/cdn.

# The Transcoder API reads the source it is given and writes renditions into the media bucket as its service agent.
resource "google_storage_bucket_iam_member" "transcoder_reads_sources" {
  bucket = google_storage_bucket.this["source"].name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${var.transcoder_agent}"
}

resource "google_storage_bucket_iam_member" "transcoder_writes_media" {
  bucket = google_storage_bucket.this["media"].name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${var.transcoder_agent}"
}
