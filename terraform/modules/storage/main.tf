# kstream's buckets. All are private: uniform bucket-level access, public access prevention enforced; readers
# reach media only through Cloud CDN signed URLs (modules/cdn) and uploads only through V4 signed URLs.

locals {
  names = {
    upload  = "${var.prefix}-${var.project_id}-uploads"
    source  = "${var.prefix}-${var.project_id}-sources"
    media   = "${var.prefix}-${var.project_id}-media"
    bundles = "${var.prefix}-${var.project_id}-bundles"
  }
}

# Upload chunks from browsers (signed PUT) and from upload-chunk; composed into the source bucket, then deleted.
resource "google_storage_bucket" "upload" {
  #checkov:skip=CKV_GCP_78:Chunks are transient (deleted after compose or after abandoned_upload_days); versioning would only keep garbage.
  #checkov:skip=CKV_GCP_62:Access logs go to Cloud Audit Logs (data access logs can be enabled per project); bucket usage logs would need another bucket of their own.
  name                        = local.names.upload
  project                     = var.project_id
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.config.force_destroy
  labels                      = var.labels

  versioning {
    enabled = false
  }

  # Deleted chunks are garbage: do not pay 7 days of soft-delete retention for them.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # Browsers PUT chunks straight to V4 signed URLs; Content-MD5 is signed, so the preflight must allow it.
  cors {
    origin          = var.config.cors_origins
    method          = ["PUT", "GET", "HEAD"]
    response_header = ["Content-Type", "Content-MD5", "ETag", "x-goog-hash", "x-goog-generation"]
    max_age_seconds = 3600
  }

  # Abandoned uploads: chunks older than this are deleted whatever state their session is in.
  lifecycle_rule {
    condition {
      age = var.config.abandoned_upload_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}

# Composed source videos; their finalize events start transcoding. Versioned: a re-upload must not silently
# destroy the original a published episode was made from.
resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Access logs go to Cloud Audit Logs; bucket usage logs would need another bucket of their own.
  name                        = local.names.source
  project                     = var.project_id
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.config.force_destroy
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.config.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# Transcoded renditions (DASH/HLS), served only through the Cloud CDN backend bucket with signed URLs.
resource "google_storage_bucket" "media" {
  #checkov:skip=CKV_GCP_62:Delivery is logged by the load balancer (modules/edge); bucket usage logs would need another bucket.
  name                        = local.names.media
  project                     = var.project_id
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.config.force_destroy
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # Players (MSE, hls.js) fetch segments with XHR from the web app's origin.
  cors {
    origin          = var.config.cors_origins
    method          = ["GET", "HEAD"]
    response_header = ["Content-Type", "Content-Length", "Content-Range", "Range", "ETag"]
    max_age_seconds = 3600
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.config.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# Function deployment bundles, named bundle-<md5>.zip by modules/functions: content-addressed, never overwritten.
resource "google_storage_bucket" "bundles" {
  #checkov:skip=CKV_GCP_78:Objects are content-addressed (bundle-<md5>.zip) and never overwritten; versioning adds nothing.
  #checkov:skip=CKV_GCP_62:Only Cloud Build reads this bucket; its reads are in Cloud Audit Logs.
  name                        = local.names.bundles
  project                     = var.project_id
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only rebuildable bundles live here
  labels                      = var.labels

  versioning {
    enabled = false
  }

  # A deployed function keeps its built image; an old bundle is only needed to rebuild that exact version.
  lifecycle_rule {
    condition {
      age = var.config.bundle_retention_days
    }
    action {
      type = "Delete"
    }
  }
}
