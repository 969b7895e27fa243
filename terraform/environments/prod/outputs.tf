output "url" {
  description = "Base URL of the API (/api/...) and media (/media/...)."
  value       = module.stack.url
}

output "ip_address" {
  description = "Create an A record <domain> -> this address; the managed certificate becomes ACTIVE after it resolves."
  value       = module.stack.ip_address
}

output "certificate" {
  description = "Managed certificate name; ACTIVE once the A record resolves."
  value       = module.stack.certificate
}

output "buckets" {
  description = "Bucket names by role."
  value       = module.stack.buckets
}

output "functions" {
  description = "Deployed functions with their URIs and service accounts."
  value       = module.stack.functions
}

output "event_triggers" {
  description = "Eventarc trigger of each event function."
  value       = module.stack.event_triggers
}

output "dead_letter_subscription" {
  description = "Pull subscription of events that failed max_delivery_attempts times."
  value       = module.stack.dead_letter_subscription
}

output "sweeper_job" {
  description = "Cloud Scheduler job starting the stuck-job sweep (gcloud scheduler jobs run <it> --location <region> sweeps now)."
  value       = module.stack.sweeper_job
}

output "request_duration_metric" {
  description = "Cloud Monitoring metric type of request duration by method, route and status code."
  value       = module.stack.request_duration_metric
}

output "dashboard" {
  description = "Cloud Monitoring dashboard of the environment (requests, 5xx, latency, transcodes, dead letters, Cloud Armor)."
  value       = module.stack.dashboard
}

output "alert_policies" {
  description = "Alert policy ids by role: api_errors, api_latency, transcode_failures, dead_letters, armor_blocked."
  value       = module.stack.alert_policies
}
