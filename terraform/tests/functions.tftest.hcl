# Plan-only tests of modules/functions against the real functions/functions.yaml, with mocked providers.
# Run where providers can be downloaded (not offline; see terraform/README.md):
#   terraform -chdir=terraform/environments/prod init -backend=false
#   terraform -chdir=terraform/environments/prod test -test-directory=../../tests
# Paths are relative to terraform/environments/prod.

mock_provider "google" {}

mock_provider "archive" {
  mock_data "archive_file" {
    defaults = {
      output_md5  = "0123456789abcdef0123456789abcdef"
      output_path = "/tmp/kstream-test-bundle.zip"
    }
  }
}

variables {
  project_id     = "kstream-test"
  region         = "asia-northeast3"
  prefix         = "kstream"
  functions_file = "../../../functions/functions.yaml"
  bundle = {
    source_dir  = "../../../build/function-source"
    output_path = "/tmp/kstream-test-bundle.zip"
    bucket      = "kstream-kstream-test-bundles"
  }
  settings = {
    buckets = {
      upload = "kstream-kstream-test-uploads"
      source = "kstream-kstream-test-sources"
      media  = "kstream-kstream-test-media"
    }
    transcoder_topic    = "kstream-transcoder-events"
    transcoder_location = "asia-northeast3"
    cdn_base_url        = "https://api.kstream.test/media"
    cdn_key = {
      name           = "kstream-media-key-1"
      secret_id      = "kstream-cdn-signing-key"
      secret_version = "1"
    }
    callback_secret = {
      secret_id      = "kstream-callback-signing-secret"
      secret_version = "3"
    }
    transcode_timeout_seconds = 7200
    service_callers           = ["pipeline@kstream-test.iam.gserviceaccount.com"]
    service_audience          = "https://api.kstream.test"
  }
  event_sources = {
    buckets = {
      upload = "kstream-kstream-test-uploads"
      source = "kstream-kstream-test-sources"
      media  = "kstream-kstream-test-media"
    }
    topics = {
      transcoder_events = "projects/kstream-test/topics/kstream-transcoder-events"
      sweeper           = "projects/kstream-test/topics/kstream-transcode-sweeper"
    }
  }
  dead_letter = {
    topic = "projects/kstream-test/topics/kstream-events-dead-letter"
  }
  service_agents = {
    storage = "service-123@gs-project-accounts.iam.gserviceaccount.com"
    pubsub  = "service-123@gcp-sa-pubsub.iam.gserviceaccount.com"
  }
}

run "one_function_per_list_entry" {
  command = plan

  module {
    source = "../../modules/functions"
  }

  assert {
    condition     = length(google_cloudfunctions2_function.this) == length(yamldecode(file(var.functions_file)).functions)
    error_message = "Every functions.yaml entry must be one function, and nothing else."
  }

  assert {
    condition = alltrue([
      for f in yamldecode(file(var.functions_file)).functions :
      google_cloudfunctions2_function.this[f.name].build_config[0].entry_point == f.entry_point
    ])
    error_message = "Entry points must come from functions.yaml."
  }

  assert {
    condition     = length(google_service_account.function) == length(google_cloudfunctions2_function.this)
    error_message = "Every function must run as its own service account."
  }

  assert {
    condition = alltrue([
      for f in yamldecode(file(var.functions_file)).functions :
      length(google_cloudfunctions2_function.this[f.name].event_trigger) == (try(f.event, null) == null ? 0 : 1)
    ])
    error_message = "Event entries (and only they) get an Eventarc trigger."
  }

  assert {
    condition = alltrue([
      for name, fn in google_cloudfunctions2_function.this :
      alltrue([for t in fn.event_trigger : t.retry_policy == "RETRY_POLICY_RETRY"])
    ])
    error_message = "Event triggers must retry."
  }

  assert {
    condition = alltrue([
      for f in yamldecode(file(var.functions_file)).functions :
      google_cloudfunctions2_function.this[f.name].service_config[0].ingress_settings == (try(f.event, null) == null ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_INTERNAL_ONLY")
    ])
    error_message = "HTTP functions take traffic from the load balancer only, event functions from Eventarc only."
  }

  assert {
    condition = alltrue([
      for f in yamldecode(file(var.functions_file)).functions :
      keys(google_cloudfunctions2_function.this[f.name].service_config[0].environment_variables) == sort(concat(
        [for s in try(f.env, []) : s if !endswith(s, "_SECRET")], ["LOG_EXECUTION_ID"]
      ))
    ])
    error_message = "A function gets exactly the settings its entry lists (secrets not as plain env)."
  }

  assert {
    condition = alltrue([
      for f in yamldecode(file(var.functions_file)).functions :
      sort([for e in google_cloudfunctions2_function.this[f.name].service_config[0].secret_environment_variables : e.key]) == sort([for s in try(f.env, []) : s if endswith(s, "_SECRET")])
    ])
    error_message = "The *_SECRET settings an entry lists (and only they) come from Secret Manager."
  }

  assert {
    condition = alltrue([
      for f in yamldecode(file(var.functions_file)).functions : alltrue([
        for e in google_cloudfunctions2_function.this[f.name].service_config[0].secret_environment_variables :
        e.secret == "kstream-callback-signing-secret" && e.version == "3" if e.key == "KSTREAM_CALLBACK_SIGNING_SECRET"
      ])
    ])
    error_message = "KSTREAM_CALLBACK_SIGNING_SECRET must read settings.callback_secret's secret and version."
  }

  assert {
    condition = alltrue([
      for f in yamldecode(file(var.functions_file)).functions :
      lookup(google_cloudfunctions2_function.this[f.name].service_config[0].environment_variables, "KSTREAM_TRANSCODE_TIMEOUT_SECONDS", "7200") == "7200"
    ])
    error_message = "KSTREAM_TRANSCODE_TIMEOUT_SECONDS must be settings.transcode_timeout_seconds."
  }

  assert {
    condition = alltrue([
      for f in yamldecode(file(var.functions_file)).functions :
      google_cloudfunctions2_function.this[f.name].event_trigger[0].pubsub_topic == var.event_sources.topics[f.event.topic]
      if try(f.event.topic, null) != null
    ])
    error_message = "Pub/Sub event functions must be triggered by the topic of their role (transcoder_events, sweeper)."
  }

  assert {
    condition = sort(distinct([for k, g in google_secret_manager_secret_iam_member.function : g.secret_id if endswith(k, "/KSTREAM_CALLBACK_SIGNING_SECRET")])) == ["kstream-callback-signing-secret"] && length([for k, g in google_secret_manager_secret_iam_member.function : k if endswith(k, "/KSTREAM_CALLBACK_SIGNING_SECRET")]) == length([
      for f in yamldecode(file(var.functions_file)).functions : f if contains(try(f.env, []), "KSTREAM_CALLBACK_SIGNING_SECRET")
    ])
    error_message = "Exactly the functions that read the callback secret may access it."
  }

  assert {
    condition = length(google_service_account_iam_member.signs_as_itself) == length([
      for f in yamldecode(file(var.functions_file)).functions : f if contains(try(f.env, []), "KSTREAM_SIGNER_EMAIL")
    ])
    error_message = "Exactly the signing functions get Token Creator on themselves."
  }

  assert {
    condition = sort([for k, m in google_project_iam_member.function : split("/", k)[0] if m.role == "roles/transcoder.admin"]) == sort([
      for f in yamldecode(file(var.functions_file)).functions : f.name if contains(try(f.env, []), "KSTREAM_TRANSCODER_TOPIC")
    ])
    error_message = "transcoder.admin goes only to the functions that create jobs."
  }

  assert {
    condition     = length([for k, m in google_project_iam_member.function : k if can(regex("(owner|editor|roles/viewer)$", m.role))]) == 0
    error_message = "No basic roles."
  }
}

run "unknown_setting_fails_the_plan" {
  command = plan

  module {
    source = "../../modules/functions"
  }

  variables {
    functions_file = "../../tests/fixtures/unknown-setting.yaml"
  }

  expect_failures = [google_cloudfunctions2_function.this]
}
