# The global external Application Load Balancer: one HTTPS entry point for the API (a serverless NEG and backend
# service per HTTP function) and for media (/media/* to the Cloud CDN backend bucket), Cloud Armor in front, a
# Google-managed certificate for var.domain, and plain HTTP redirected to HTTPS.

resource "google_compute_global_address" "this" {
  project    = var.project_id
  name       = "${var.prefix}-edge"
  ip_version = "IPV4"
  labels     = var.labels
}

resource "google_compute_managed_ssl_certificate" "this" {
  project = var.project_id
  name    = "${var.prefix}-edge"

  managed {
    domains = [var.domain]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each              = var.functions
  project               = var.project_id
  name                  = "${var.prefix}-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  # A gen2 function runs as the Cloud Run service of the same name.
  cloud_run {
    service = each.value.service
  }
}

resource "google_compute_backend_service" "function" {
  for_each              = var.functions
  project               = var.project_id
  name                  = "${var.prefix}-${each.key}"
  description           = "${each.value.method} ${each.value.path} (${each.value.access})"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = google_compute_security_policy.edge.id

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = var.log_sample_rate
  }
}

resource "google_compute_ssl_policy" "this" {
  project         = var.project_id
  name            = "${var.prefix}-edge"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "this" {
  project          = var.project_id
  name             = "${var.prefix}-edge"
  url_map          = google_compute_url_map.https.id
  ssl_certificates = [google_compute_managed_ssl_certificate.this.id]
  ssl_policy       = google_compute_ssl_policy.this.id
}

# Port 80 answers only with a redirect to HTTPS (301, query kept).
resource "google_compute_url_map" "http_redirect" {
  project     = var.project_id
  name        = "${var.prefix}-edge-http"
  description = "HTTP to HTTPS redirect"

  default_url_redirect {
    https_redirect         = true
    strip_query            = false
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "${var.prefix}-edge-http"
  url_map = google_compute_url_map.http_redirect.id
}

# The listeners: one forwarding rule per port on the one address, 443 to the HTTPS proxy, 80 to the redirect.
resource "google_compute_global_forwarding_rule" "this" {
  for_each = {
    https = { port_range = "443", target = google_compute_target_https_proxy.this.id }
    http  = { port_range = "80", target = google_compute_target_http_proxy.redirect.id }
  }
  project               = var.project_id
  name                  = "${var.prefix}-edge-${each.key}"
  target                = each.value.target
  ip_address            = google_compute_global_address.this.address
  ip_protocol           = "TCP"
  port_range            = each.value.port_range
  load_balancing_scheme = "EXTERNAL_MANAGED"
  labels                = var.labels
}

moved {
  from = google_compute_global_forwarding_rule.https
  to   = google_compute_global_forwarding_rule.this["https"]
}

moved {
  from = google_compute_global_forwarding_rule.http
  to   = google_compute_global_forwarding_rule.this["http"]
}
