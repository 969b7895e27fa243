output "ip_address" {
  description = "Load balancer IPv4 address: point the domain's A record here."
  value       = google_compute_global_address.this.address
}

output "url" {
  description = "Base URL of the API and media."
  value       = "https://${var.domain}"
}

output "certificate" {
  description = "Managed certificate name (check its status with gcloud compute ssl-certificates describe)."
  value       = google_compute_managed_ssl_certificate.this.name
}

output "security_policy" {
  description = "Cloud Armor policy attached to every API backend."
  value       = google_compute_security_policy.edge.name
}

output "default_function" {
  description = "Function that answers paths no route matches (with 404 ROUTE_NOT_FOUND)."
  value       = local.default_function
}
