output "functions" {
  description = "Every deployed function by functions.yaml name: deployed name, Cloud Run URI, service account and kind."
  value = {
    for name, f in local.functions : name => {
      name            = google_cloudfunctions2_function.this[name].name
      uri             = google_cloudfunctions2_function.this[name].service_config[0].uri
      service_account = google_service_account.function[name].email
      kind            = f.kind
    }
  }
}

output "http_functions" {
  description = "HTTP functions for the load balancer: Cloud Run service name, method, spec path, access and whether it answers its own 429s."
  value = {
    for name, f in local.http_functions : name => {
      service = google_cloudfunctions2_function.this[name].name
      method  = f.http.method
      path    = f.http.path
      access  = f.access
      # answers 429 itself (its own quota): the edge leaves those alone
      rate_limited = f.rate_limited
    }
  }
}

output "event_triggers" {
  description = "Eventarc trigger of each event function."
  value       = { for name, f in local.event_functions : name => google_cloudfunctions2_function.this[name].event_trigger[0].trigger }
}

output "service_accounts" {
  description = "Runtime service account email of each function."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "bundle_object" {
  description = "The uploaded bundle object (bundle-<md5>.zip)."
  value       = "gs://${var.bundle.bucket}/${google_storage_bucket_object.bundle.name}"
}
