# Plan-only tests of modules/observability with mocked providers (see functions.tftest.hcl for how to run).

mock_provider "google" {}

variables {
  project_id = "kstream-test"
  prefix     = "kstream"
  labels     = { app = "kstream", env = "test" }
  functions = {
    for f in yamldecode(file("../../../functions/functions.yaml")).functions : f.name => {
      name = "kstream-${f.name}"
      kind = try(f.event, null) != null ? "event" : try(f.access, "public")
    }
  }
  event_triggers = {
    on-source-uploaded = "projects/kstream-test/locations/asia-northeast3/triggers/kstream-on-source-uploaded-123456"
  }
  dead_letter_subscription = "projects/kstream-test/subscriptions/kstream-events-dead-letter"
  security_policy          = "kstream-edge"
  notification_channels    = ["projects/kstream-test/notificationChannels/1234567890"]
}

run "alerts_page_the_channels" {
  command = plan

  module {
    source = "../../modules/observability"
  }

  assert {
    condition     = sort(keys(google_monitoring_alert_policy.this)) == ["api_errors", "api_latency", "armor_blocked", "dead_letters", "transcode_failures"]
    error_message = "One alert policy per role."
  }

  assert {
    condition = alltrue([
      for p in google_monitoring_alert_policy.this :
      p.notification_channels == var.notification_channels && p.documentation[0].content != "" && p.severity != null
    ])
    error_message = "Every alert policy must notify the given channels, with documentation and a severity."
  }

  assert {
    condition     = google_monitoring_alert_policy.this["api_errors"].conditions[0].condition_threshold[0].threshold_value == 0.05
    error_message = "The 5xx ratio threshold defaults to 0.05."
  }

  assert {
    condition     = strcontains(google_monitoring_alert_policy.this["dead_letters"].conditions[0].condition_threshold[0].filter, "\"kstream-events-dead-letter\"")
    error_message = "The dead-letter alert must watch the dead-letter subscription."
  }

  assert {
    condition     = length(jsondecode(google_monitoring_dashboard.operations.dashboard_json).mosaicLayout.tiles) >= 8
    error_message = "The dashboard must have its charts."
  }

  assert {
    condition     = google_logging_metric.transcode_outcomes.name == "kstream/transcode_outcomes" && google_logging_metric.dropped_events.name == "kstream/dropped_events"
    error_message = "Log metric names derive from the prefix."
  }
}

run "rejects_a_bad_channel_id" {
  command = plan

  module {
    source = "../../modules/observability"
  }

  variables {
    notification_channels = ["1234567890"]
  }

  expect_failures = [var.notification_channels]
}

run "rejects_a_ratio_above_one" {
  command = plan

  module {
    source = "../../modules/observability"
  }

  variables {
    alerts = { error_ratio = 5 }
  }

  expect_failures = [var.alerts]
}
