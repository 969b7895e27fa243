# Cloud Armor on every API backend: per-client rate limits at the edge (uploads tighter than the rest, abusive
# clients banned for a while), Log4j probes refused. Rate limits here protect capacity; the per-user upload quota
# (KSTREAM_UPLOAD_STARTS_PER_HOUR) is the function's own.

resource "google_compute_security_policy" "edge" {
  project     = var.project_id
  name        = "${var.prefix}-edge"
  description = "kstream edge: rate limits per client IP"
  type        = "CLOUD_ARMOR"

  advanced_options_config {
    json_parsing = "STANDARD"
    log_level    = "NORMAL"
  }

  adaptive_protection_config {
    layer_7_ddos_defense_config {
      enable = var.armor.adaptive_protection
    }
  }

  rule {
    priority    = 900
    action      = "deny(403)"
    description = "Log4j JNDI lookups (CVE-2021-44228 and successors)"
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
  }

  rule {
    priority    = 1000
    action      = "throttle"
    description = "Uploads: at most upload_requests_per_minute per client IP"
    match {
      expr {
        expression = "request.path.matches('^/api/(v[0-9]+/)?upload/')"
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.armor.upload_requests_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    priority    = 2000
    action      = "rate_based_ban"
    description = "Everything else: throttle per client IP; ban clients far above the limit"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action   = "allow"
      exceed_action    = "deny(429)"
      enforce_on_key   = "IP"
      ban_duration_sec = var.armor.ban_duration_sec
      rate_limit_threshold {
        count        = var.armor.requests_per_minute
        interval_sec = 60
      }
      ban_threshold {
        count        = var.armor.ban_requests_per_minute
        interval_sec = 60
      }
    }
  }

  rule {
    priority    = 2147483647
    action      = "allow"
    description = "Default: allow"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}
