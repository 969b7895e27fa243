output "request_duration_metric" {
  description = "Cloud Monitoring type of the spec's request duration distribution (logging.googleapis.com/user/<prefix>/http_request_duration_seconds)."
  value       = local.user_metric.http_request_duration_seconds
}

output "log_metrics" {
  description = "Cloud Monitoring types of the log-based metrics, by name: http_request_duration_seconds, transcode_outcomes, dropped_events."
  value       = local.user_metric
}

output "alert_policies" {
  description = "Alert policy ids (projects/P/alertPolicies/N) by role: api_errors, api_latency, transcode_failures, dead_letters, armor_blocked."
  value       = { for role, policy in google_monitoring_alert_policy.this : role => policy.name }
}

output "dashboard" {
  description = "Id of the operations dashboard (projects/P/dashboards/D)."
  value       = google_monitoring_dashboard.operations.id
}
