# kstream's buckets. All are private: uniform bucket-level access, public access prevention enforced; readers
# reach media only through Cloud CDN signed URLs (modules/cdn) and uploads only through V4 signed URLs.
#
# One google_storage_bucket per entry of local.buckets (key = role, the name modules/functions and the Eventarc
# triggers use). An entry says what differs between buckets: versioning, soft delete, CORS, lifecycle rules and
# whether it may be destroyed with its objects; everything else is the same for all, in the resource below.

locals {
  buckets = {
    # Upload chunks from browsers (signed PUT) and from upload-chunk; composed into the source bucket, then deleted.
    upload = {
      suffix        = "uploads"
      versioning    = false
      force_destroy = var.config.force_destroy
      # Deleted chunks are garbage: do not pay 7 days of soft-delete retention for them.
      soft_delete_retention_seconds = 0
      # Browsers PUT chunks straight to V4 signed URLs; Content-MD5 is signed, so the preflight must allow it.
      cors = {
        method          = ["PUT", "GET", "HEAD"]
        response_header = ["Content-Type", "Content-MD5", "ETag", "x-goog-hash", "x-goog-generation"]
      }
      lifecycle_rules = [
        # Abandoned uploads: chunks older than this are deleted whatever state their session is in.
        { action = "Delete", age = var.config.abandoned_upload_days },
        { action = "AbortIncompleteMultipartUpload", age = 1 },
      ]
    }

    # Composed source videos; their finalize events start transcoding. Versioned: a re-upload must not silently
    # destroy the original a published episode was made from.
    source = {
      suffix                        = "sources"
      versioning                    = true
      force_destroy                 = var.config.force_destroy
      soft_delete_retention_seconds = null # the bucket default
      cors                          = null
      lifecycle_rules = [
        { action = "Delete", days_since_noncurrent_time = var.config.noncurrent_version_days, with_state = "ARCHIVED" },
      ]
    }

    # Transcoded renditions (DASH/HLS), served only through the Cloud CDN backend bucket with signed URLs.
    media = {
      suffix                        = "media"
      versioning                    = true
      force_destroy                 = var.config.force_destroy
      soft_delete_retention_seconds = null
      # Players (MSE, hls.js) fetch segments with XHR from the web app's origin.
      cors = {
        method          = ["GET", "HEAD"]
        response_header = ["Content-Type", "Content-Length", "Content-Range", "Range", "ETag"]
      }
      lifecycle_rules = [
        { action = "Delete", days_since_noncurrent_time = var.config.noncurrent_version_days, with_state = "ARCHIVED" },
      ]
    }

    # Function deployment bundles, named bundle-<md5>.zip by modules/functions: content-addressed, never overwritten.
    bundles = {
      suffix                        = "bundles"
      versioning                    = false
      force_destroy                 = true # only rebuildable bundles live here
      soft_delete_retention_seconds = null
      cors                          = null
      lifecycle_rules = [
        # A deployed function keeps its built image; an old bundle is only needed to rebuild that exact version.
        { action = "Delete", age = var.config.bundle_retention_days },
      ]
    }
  }
}

resource "google_storage_bucket" "this" {
  #checkov:skip=CKV_GCP_62:No bucket usage logs (they would need another bucket of their own): access to every bucket is in Cloud Audit Logs (data access logs can be enabled per project), media delivery is logged by the load balancer (modules/edge), and only Cloud Build reads the bundles.
  #checkov:skip=CKV_GCP_78:Only the upload and bundles buckets are unversioned (local.buckets): chunks are transient (deleted after compose or after abandoned_upload_days), bundles content-addressed and never overwritten. Source and media are versioned, which tests/unit/test_terraform.py checks.
  for_each                    = local.buckets
  name                        = "${var.prefix}-${var.project_id}-${each.value.suffix}"
  project                     = var.project_id
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = each.value.force_destroy
  labels                      = var.labels

  versioning {
    enabled = each.value.versioning
  }

  dynamic "soft_delete_policy" {
    for_each = each.value.soft_delete_retention_seconds == null ? [] : [each.value.soft_delete_retention_seconds]
    content {
      retention_duration_seconds = soft_delete_policy.value
    }
  }

  dynamic "cors" {
    for_each = each.value.cors == null ? [] : [each.value.cors]
    content {
      origin          = var.config.cors_origins
      method          = cors.value.method
      response_header = cors.value.response_header
      max_age_seconds = 3600
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.lifecycle_rules
    content {
      condition {
        age                        = lookup(lifecycle_rule.value, "age", null)
        days_since_noncurrent_time = lookup(lifecycle_rule.value, "days_since_noncurrent_time", null)
        with_state                 = lookup(lifecycle_rule.value, "with_state", null)
      }
      action {
        type = lifecycle_rule.value.action
      }
    }
  }
}

# The buckets were four resources (google_storage_bucket.upload etc.) until they became one for_each.
moved {
  from = google_storage_bucket.upload
  to   = google_storage_bucket.this["upload"]
}

moved {
  from = google_storage_bucket.source
  to   = google_storage_bucket.this["source"]
}

moved {
  from = google_storage_bucket.media
  to   = google_storage_bucket.this["media"]
}

moved {
  from = google_storage_bucket.bundles
  to   = google_storage_bucket.this["bundles"]
}
