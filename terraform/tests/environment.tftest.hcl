# Plan-only test of a whole environment root (terraform/environments/prod: its providers, its values and the
# ../../stack it calls) with mocked providers (see functions.tftest.hcl for how to run).

mock_provider "google" {
  mock_data "google_project" {
    defaults = {
      number = "123456789012"
    }
  }
  mock_data "google_secret_manager_secret_version" {
    defaults = {
      version     = "1"
      secret_data = "AAAAAAAAAAAAAAAAAAAAAA=="
    }
  }
  mock_data "google_storage_project_service_account" {
    defaults = {
      email_address = "service-123456789012@gs-project-accounts.iam.gserviceaccount.com"
    }
  }
}

mock_provider "google-beta" {
  mock_resource "google_project_service_identity" {
    defaults = {
      email = "service-123456789012@gcp-sa-example.iam.gserviceaccount.com"
    }
  }
}

mock_provider "archive" {
  mock_data "archive_file" {
    defaults = {
      output_md5  = "0123456789abcdef0123456789abcdef"
      output_path = "/tmp/kstream-test-bundle.zip"
    }
  }
}

variables {
  project_id = "kstream-test"
  domain     = "api.kstream.test"
  storage = {
    cors_origins = ["https://kstream.test"]
  }
}

run "prod_root_plans" {
  command = plan

  assert {
    condition     = length(module.stack.functions) == length(yamldecode(file("../../../functions/functions.yaml")).functions)
    error_message = "The environment must deploy every function of the list."
  }

  assert {
    condition = length(module.stack.event_triggers) == length([
      for f in yamldecode(file("../../../functions/functions.yaml")).functions : f if try(f.event, null) != null
    ])
    error_message = "Every event function must have its Eventarc trigger."
  }

  assert {
    condition     = module.stack.sweeper_job == "kstream-transcode-sweeper"
    error_message = "Cloud Scheduler must start the sweep under prod's prefix (the topic's name: data.tftest.hcl)."
  }

  assert {
    condition = module.stack.buckets == {
      upload  = "kstream-kstream-test-uploads"
      source  = "kstream-kstream-test-sources"
      media   = "kstream-kstream-test-media"
      bundles = "kstream-kstream-test-bundles"
    }
    error_message = "Bucket names are <prefix>-<project>-<role>, as before the buckets became one for_each."
  }

  assert {
    condition     = module.stack.url == "https://api.kstream.test"
    error_message = "The public URL is the domain over HTTPS."
  }
}
