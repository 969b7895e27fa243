# Plan-only tests of modules/storage with mocked providers (see functions.tftest.hcl for how to run).

mock_provider "google" {}

variables {
  project_id       = "kstream-test"
  prefix           = "kstream"
  location         = "asia-northeast3"
  transcoder_agent = "service-123@gcp-sa-transcoder.iam.gserviceaccount.com"
  config = {
    cors_origins = ["https://kstream.test"]
  }
}

run "buckets_are_private" {
  command = plan

  module {
    source = "../../modules/storage"
  }

  assert {
    condition     = sort(keys(google_storage_bucket.this)) == ["bundles", "media", "source", "upload"]
    error_message = "One bucket per role: upload, source, media, bundles."
  }

  assert {
    condition = alltrue([
      for b in google_storage_bucket.this : b.uniform_bucket_level_access && b.public_access_prevention == "enforced"
    ])
    error_message = "Every bucket must use uniform bucket-level access with public access prevention enforced."
  }

  assert {
    condition     = google_storage_bucket.this["source"].versioning[0].enabled && google_storage_bucket.this["media"].versioning[0].enabled
    error_message = "Source and media buckets must be versioned."
  }

  assert {
    condition     = contains(google_storage_bucket.this["upload"].cors[0].method, "PUT") && contains(google_storage_bucket.this["upload"].cors[0].response_header, "Content-MD5")
    error_message = "The upload bucket must accept browser PUTs carrying Content-MD5."
  }

  assert {
    condition     = anytrue([for r in google_storage_bucket.this["upload"].lifecycle_rule : r.action[0].type == "Delete" && r.condition[0].age == 2])
    error_message = "Abandoned chunks must be deleted after 2 days."
  }

  assert {
    condition     = anytrue([for r in google_storage_bucket.this["upload"].lifecycle_rule : r.action[0].type == "AbortIncompleteMultipartUpload"])
    error_message = "Incomplete multipart uploads must be aborted."
  }
}

run "rejects_wildcard_origins" {
  command = plan

  module {
    source = "../../modules/storage"
  }

  variables {
    config = {
      cors_origins = ["*"]
    }
  }

  expect_failures = [var.config]
}
