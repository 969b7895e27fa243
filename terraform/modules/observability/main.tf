# Request latency by route and status, from the one structured request log line every HTTP function writes
# (functions/kstream/observability.py: route, function, httpRequest{status, latency: "0.012345s", ...}).

locals {
  # Cloud Run lifts a top-level `httpRequest` key of a JSON log line into LogEntry.httpRequest; `route` stays in
  # jsonPayload. var.http_request_field says where httpRequest is read from.
  http = var.http_request_field
}

resource "google_logging_metric" "request_latency" {
  project     = var.project_id
  name        = "${var.prefix}/request_latency"
  description = "Latency of kstream API requests as the functions measured them, by route template and HTTP status."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=~\"^${var.prefix}-\"",
    "jsonPayload.route:*",
    "${local.http}.latency:*",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "DISTRIBUTION"
    unit         = "s"
    display_name = "kstream request latency"

    labels {
      key         = "route"
      value_type  = "STRING"
      description = "Route template of the function (e.g. /api/stream/{videoId})."
    }
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "HTTP status code of the response."
    }
  }

  # latency is written as a string of seconds with an "s" suffix ("0.012345s"): keep the number.
  value_extractor = "REGEXP_EXTRACT(${local.http}.latency, \"([0-9.]+)s\")"
  label_extractors = {
    route  = "EXTRACT(jsonPayload.route)"
    status = "EXTRACT(${local.http}.status)"
  }

  # 1 ms to ~4 min in 20 exponential buckets.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 1.9
      scale              = 0.001
    }
  }
}
