# Plan-only tests of modules/data with mocked providers (see functions.tftest.hcl for how to run).

mock_provider "google" {}

variables {
  project_id   = "kstream-test"
  prefix       = "kstream"
  region       = "asia-northeast3"
  indexes_file = "../../tests/fixtures/indexes.json"
  firestore = {
    location = "asia-northeast3"
  }
  service_agents = {
    transcoder = "service-123@gcp-sa-transcoder.iam.gserviceaccount.com"
    pubsub     = "service-123@gcp-sa-pubsub.iam.gserviceaccount.com"
    scheduler  = "service-123@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
  }
}

run "every_index_is_deployed" {
  command = plan

  module {
    source = "../../modules/data"
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

  assert {
    condition     = output.sweeper_job == "kstream-transcode-sweeper" && output.topic_names.sweeper == "kstream-transcode-sweeper"
    error_message = "Cloud Scheduler must start the sweep through the prefix-named sweeper topic."
  }
}

run "real_index_file_is_deployed" {
  command = plan

  module {
    source = "../../modules/data"
  }

  variables {
    indexes_file = "../../../functions/firestore.indexes.json"
  }

  assert {
    condition     = length(google_firestore_index.this) == length(jsondecode(file(var.indexes_file)).indexes)
    error_message = "Every index of functions/firestore.indexes.json must be deployed."
  }
}
