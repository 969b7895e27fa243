output "request_latency_metric" {
  description = "Cloud Monitoring type of the latency distribution (logging.googleapis.com/user/<name>)."
  value       = "logging.googleapis.com/user/${google_logging_metric.request_latency.name}"
}
