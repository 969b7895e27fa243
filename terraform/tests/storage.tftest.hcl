# Plan-only tests of modules/storage and modules/data with mocked providers (see functions.tftest.hcl for how to run).

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
    condition = alltrue([
      for b in [google_storage_bucket.upload, google_storage_bucket.source, google_storage_bucket.media, google_storage_bucket.bundles] :
      b.uniform_bucket_level_access && b.public_access_prevention == "enforced"
    ])
    error_message = "Every bucket must use uniform bucket-level access with public access prevention enforced."
  }

  assert {
    condition     = contains(google_storage_bucket.upload.cors[0].method, "PUT") && contains(google_storage_bucket.upload.cors[0].response_header, "Content-MD5")
    error_message = "The upload bucket must accept browser PUTs carrying Content-MD5."
  }

  assert {
    condition     = anytrue([for r in google_storage_bucket.upload.lifecycle_rule : r.action[0].type == "Delete" && r.condition[0].age == 2])
    error_message = "Abandoned chunks must be deleted after 2 days."
  }

  assert {
    condition     = anytrue([for r in google_storage_bucket.upload.lifecycle_rule : r.action[0].type == "AbortIncompleteMultipartUpload"])
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

run "every_index_is_deployed" {
  command = plan

  module {
    source = "../../modules/data"
  }

  variables {
    indexes_file = "../../tests/fixtures/indexes.json"
    firestore = {
      location = "asia-northeast3"
    }
    service_agents = {
      transcoder = "service-123@gcp-sa-transcoder.iam.gserviceaccount.com"
      pubsub     = "service-123@gcp-sa-pubsub.iam.gserviceaccount.com"
    }
  }

  assert {
    condition     = length(google_firestore_index.this) == length(jsondecode(file(var.indexes_file)).indexes)
    error_message = "Every index of the JSON file must be deployed."
  }

  assert {
    condition     = length(google_firestore_field.this) == length(jsondecode(file(var.indexes_file)).fieldOverrides)
    error_message = "Every field override of the JSON file must be deployed."
  }

  assert {
    condition     = google_firestore_database.this.type == "FIRESTORE_NATIVE"
    error_message = "Firestore must be in native mode."
  }
}

run "real_index_file_is_deployed" {
  command = plan

  module {
    source = "../../modules/data"
  }

  variables {
    indexes_file = "../../../functions/firestore.indexes.json"
    firestore = {
      location = "asia-northeast3"
    }
    service_agents = {
      transcoder = "service-123@gcp-sa-transcoder.iam.gserviceaccount.com"
      pubsub     = "service-123@gcp-sa-pubsub.iam.gserviceaccount.com"
    }
  }

  assert {
    condition     = length(google_firestore_index.this) == length(jsondecode(file(var.indexes_file)).indexes)
    error_message = "Every index of functions/firestore.indexes.json must be deployed."
  }
}
