# Counters of the transcoding pipeline, from the one log line each event function writes per event
# (functions/kstream/events.py) and the line transcode-start writes per job it starts
# (functions/kstream/transcode/service.py). The lines, as the code writes them:
#
#   events.py    line("INFO", f"{spec.name}: {fields.get('action', 'handled')}", **fields)
#                    fields = Outcome.log_fields(): action (Outcome("completed" | "failed" | "ignored" | "stale" ...)),
#                    jobId, videoId, reason; or SweepReport.log_fields(): {"action": "swept", "timedOut": [...], ...}
#   events.py    line("WARNING", f"{spec.name}: dropped a malformed event: {exc.reason}", action="dropped", ...)
#   events.py    line("ERROR", f"{spec.name}: dropped: {exc.message}", action="dropped", ...)
#   service.py   self.log("transcode job started", **outcome.log_fields())    (action "started" or "failed")
#
# tests/unit/test_terraform.py checks that every jsonPayload.message text and jsonPayload.action value these
# filters name occurs in functions/kstream, so renaming a log line fails the tests instead of silencing an alert.

locals {
  # Every kstream function's Cloud Run service, by exact name: a prefix match would also count another
  # environment's services in a shared project (kstream- is a prefix of kstream-dev-).
  services_clause = "resource.labels.service_name=(${join(" OR ", [for s in local.all_services : "\"${s}\""])})"
}

resource "google_logging_metric" "transcode_outcomes" {
  project     = var.project_id
  name        = "${var.prefix}/transcode_outcomes"
  description = "Finished transcoding jobs by outcome: completed, failed, or swept (a stuck-job sweep that timed out at least one job; one count per sweep)."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    local.services_clause,
    "((jsonPayload.action=(\"completed\" OR \"failed\") AND jsonPayload.jobId:*) OR (jsonPayload.action=\"swept\" AND jsonPayload.timedOut:\"job-\"))",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "kstream transcode outcomes"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "completed, failed, or swept (the sweep timed out jobs; their ids are in the log line's timedOut)."
    }
    labels {
      key         = "function"
      value_type  = "STRING"
      description = "Function that wrote the line (functions.yaml name)."
    }
  }

  label_extractors = {
    outcome  = "EXTRACT(jsonPayload.action)"
    function = "EXTRACT(jsonPayload.function)"
  }
}

resource "google_logging_metric" "dropped_events" {
  project     = var.project_id
  name        = "${var.prefix}/dropped_events"
  description = "Events the event functions acknowledged without acting: dropped (malformed, or a permanent 4xx verdict), ignored (not ours) or stale (replaced source)."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    local.services_clause,
    "(jsonPayload.message:\": dropped\" OR jsonPayload.action=(\"ignored\" OR \"stale\"))",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "kstream dropped events"

    labels {
      key         = "action"
      value_type  = "STRING"
      description = "dropped, ignored or stale."
    }
    labels {
      key         = "function"
      value_type  = "STRING"
      description = "Event function that dropped the event (functions.yaml name)."
    }
  }

  label_extractors = {
    action   = "EXTRACT(jsonPayload.action)"
    function = "EXTRACT(jsonPayload.function)"
  }
}

# The spec's request metric under its own name and labels (method, route, status_code), from the request log line
# (functions/kstream/observability.py; locally RequestDurations serves it in the Prometheus text format). The latency
# alert and the dashboard read it. Type: logging.googleapis.com/user/<prefix>/http_request_duration_seconds.
resource "google_logging_metric" "http_request_duration_seconds" {
  project     = var.project_id
  name        = "${var.prefix}/http_request_duration_seconds"
  description = "Duration of kstream API requests in seconds as the functions measured them, by method, route template and status code (the spec's http_request_duration_seconds)."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    local.services_clause,
    "jsonPayload.route:*",
    "${local.http}.latency:*",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "http_request_duration_seconds"

    labels {
      key         = "method"
      value_type  = "STRING"
      description = "HTTP method of the request."
    }
    labels {
      key         = "route"
      value_type  = "STRING"
      description = "Route template of the function (e.g. /api/stream/{videoId})."
    }
    labels {
      key         = "status_code"
      value_type  = "STRING"
      description = "HTTP status code of the response."
    }
  }

  value_extractor = "REGEXP_EXTRACT(${local.http}.latency, \"([0-9.]+)s\")"
  label_extractors = {
    method      = "EXTRACT(${local.http}.requestMethod)"
    route       = "EXTRACT(jsonPayload.route)"
    status_code = "EXTRACT(${local.http}.status)"
  }

  # Prometheus' default buckets, 5 ms to 10 s, as the local histogram.
  bucket_options {
    explicit_buckets {
      bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    }
  }
}
