output "project_id" {
  description = "The project id, available only once every API is enabled (use it to order dependent modules)."
  value       = var.project_id
  depends_on  = [google_project_service.this]
}

output "project_number" {
  description = "The project number (service agent emails are built from it)."
  value       = local.project_number
}

output "services" {
  description = "APIs enabled by this module."
  value       = sort(tolist(local.services))
}

output "service_agents" {
  description = "Emails of the Google service agents kstream grants roles to."
  value = {
    pubsub     = google_project_service_identity.this["pubsub.googleapis.com"].email
    transcoder = google_project_service_identity.this["transcoder.googleapis.com"].email
    eventarc   = google_project_service_identity.this["eventarc.googleapis.com"].email
    storage    = data.google_storage_project_service_account.this.email_address
    # Created by Google when the Cloud Scheduler API is enabled (its email follows from the project number); it
    # publishes the messages of Pub/Sub-target jobs (modules/data grants it that on the sweeper topic only).
    scheduler = "service-${local.project_number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
    # Exists once a Cloud CDN signing key has been added to a backend in the project (see modules/cdn).
    cdn_fill = "service-${local.project_number}@cloud-cdn-fill.iam.gserviceaccount.com"
  }
}
