# Shared by the log-based metrics (metrics.tf): every HTTP function writes one structured request log line
# (functions/kstream/observability.py: route, function, httpRequest{requestMethod, status, latency: "0.012345s"}).

locals {
  # Cloud Run lifts a top-level `httpRequest` key of a JSON log line into LogEntry.httpRequest; `route` stays in
  # jsonPayload. var.http_request_field says where httpRequest is read from.
  http = var.http_request_field
}

