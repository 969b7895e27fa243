# Plan-only tests of modules/edge with mocked providers (see functions.tftest.hcl for how to run).

mock_provider "google" {}

variables {
  project_id = "kstream-test"
  prefix     = "kstream"
  region     = "asia-northeast3"
  domain     = "api.kstream.test"
  functions = {
    for f in yamldecode(file("../../../functions/functions.yaml")).functions : f.name => {
      service      = "kstream-${f.name}"
      method       = f.http.method
      path         = f.http.path
      access       = f.access
      rate_limited = try(f.rate_limited, false)
    } if try(f.http, null) != null
  }
  media = {
    backend_bucket = "projects/kstream-test/global/backendBuckets/kstream-media"
  }
  cdn_fill_agent = "service-123456789012@cloud-cdn-fill.iam.gserviceaccount.com"
}

run "routes_every_http_function" {
  command = plan

  module {
    source = "../../modules/edge"
  }

  assert {
    condition     = length(google_compute_backend_service.function) == length(var.functions) && length(google_compute_region_network_endpoint_group.function) == length(var.functions)
    error_message = "Every HTTP function needs a serverless NEG and a backend service."
  }

  assert {
    condition = length(google_compute_url_map.https.path_matcher[0].route_rules) == 1 + length(var.functions) + length([
      for f in var.functions : f if startswith(f.path, "/api/")
    ]) + 1
    error_message = "One media rule, one exact+v1 rule per function, one any-version rule per /api function, one catch-all."
  }

  assert {
    condition = length([
      for r in google_compute_url_map.https.path_matcher[0].route_rules : r if length(r.custom_error_response_policy) == 0
    ]) == 3
    error_message = "Every function route but upload-start's two (exact+v1, any-version) and the media rule serves Cloud Armor's 429 as the envelope."
  }

  assert {
    condition = alltrue(flatten([
      for r in google_compute_url_map.https.path_matcher[0].route_rules : [
        for p in r.custom_error_response_policy : [
          for e in p.error_response_rule : e.match_response_codes == tolist(["429"]) && e.override_response_code == 429 && e.path == "/errors/rate-limit-exceeded.json"
        ]
      ]
    ]))
    error_message = "The edge error policy matches 429 only and serves the envelope object with 429."
  }

  assert {
    condition     = length(google_compute_url_map.https.default_custom_error_response_policy) == 0 && length(google_compute_url_map.https.path_matcher[0].default_custom_error_response_policy) == 0
    error_message = "No default error policy above the route rules: it would also replace upload-start's own 429."
  }

  assert {
    condition     = google_storage_bucket_object.rate_limit.content_type == "application/json" && google_storage_bucket.errors.public_access_prevention == "enforced"
    error_message = "The envelope is served as JSON from a private bucket."
  }

  assert {
    condition     = alltrue([for b in google_compute_backend_service.function : b.load_balancing_scheme == "EXTERNAL_MANAGED"])
    error_message = "Backends must belong to the global external Application Load Balancer."
  }

  assert {
    condition     = anytrue([for r in google_compute_security_policy.edge.rule : contains(["throttle", "rate_based_ban"], r.action)])
    error_message = "Cloud Armor must rate-limit at the edge."
  }

  assert {
    condition     = google_compute_managed_ssl_certificate.this.managed[0].domains == tolist(["api.kstream.test"])
    error_message = "The managed certificate must be for the domain."
  }

  assert {
    condition     = google_compute_url_map.http_redirect.default_url_redirect[0].https_redirect
    error_message = "Port 80 must redirect to HTTPS."
  }

  assert {
    condition     = google_compute_global_forwarding_rule.this["https"].port_range == "443" && google_compute_global_forwarding_rule.this["http"].port_range == "80"
    error_message = "One listener per port: 443 (HTTPS proxy) and 80 (redirect)."
  }

  assert {
    condition = contains([
      for name, f in var.functions : name if f.access == "public"
    ], output.default_function)
    error_message = "Unmatched paths must go to a public function (it answers 404 in the API envelope)."
  }
}
