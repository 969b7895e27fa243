# Alert policies: what an operator is told when kstream breaks. Each one (local.alert_policies, one resource for all)
# says in its documentation what it means and what to look at first, has a severity, and notifies
# var.notification_channels (empty: the incident opens in the console and nobody is paged, as in dev). Thresholds
# are var.alerts (variables.tf).

locals {
  http_services = sort([for f in var.functions : f.name if f.kind != "event"])
  all_services  = sort([for f in var.functions : f.name])

  # Monitoring filter clauses. Services by exact name (see metrics.tf for why not a prefix).
  http_services_one_of     = "one_of(${join(", ", [for s in local.http_services : "\"${s}\""])})"
  dead_letter_subscription = reverse(split("/", var.dead_letter_subscription))[0]
  # Eventarc names the subscription of trigger T eventarc-<region>-<T>-sub-<n>; dead_letter_message_count is
  # counted on that (source) subscription, num_undelivered_messages on ours.
  eventarc_subscriptions = "monitoring.regex.full_match(\"eventarc-.+-(${join("|", [for t in values(var.event_triggers) : reverse(split("/", t))[0]])})-sub-[0-9]+\")"

  cloud_run_requests = join(" AND ", [
    "resource.type = \"cloud_run_revision\"",
    "metric.type = \"run.googleapis.com/request_count\"",
    "resource.label.service_name = ${local.http_services_one_of}",
  ])

  # Metric types of the log-based metrics, by reference so that a policy or the dashboard waits for its metric.
  user_metric = {
    http_request_duration_seconds = "logging.googleapis.com/user/${google_logging_metric.http_request_duration_seconds.name}"
    transcode_outcomes            = "logging.googleapis.com/user/${google_logging_metric.transcode_outcomes.name}"
    dropped_events                = "logging.googleapis.com/user/${google_logging_metric.dropped_events.name}"
  }

  runbook = "docs/deploy.md, \"Alerts and dashboard\""

  # Cloud Armor's own count of requests the policy denied (alerts and dashboard).
  armor_blocked = join(" AND ", [
    "resource.type = \"network_security_policy\"",
    "metric.type = \"networksecurity.googleapis.com/https/request_count\"",
    "resource.label.policy_name = \"${var.security_policy}\"",
    "metric.label.blocked = true",
  ])

  alert_policies = {
    # 5xx share of API requests. From Cloud Run's own request_count (response_code_class), not from the request log
    # metric: Cloud Run counts every answer, also those the function never logged (a crash, an instance killed for
    # memory, a request timeout, no instance available), and it does not depend on log ingestion.
    api_errors = {
      display_name       = "API 5xx ratio"
      severity           = "CRITICAL"
      subject            = "more than ${var.alerts.error_ratio} of API requests fail with 5xx"
      content            = <<-EOT
        A share above ${var.alerts.error_ratio} of the requests to the kstream HTTP functions (${var.prefix}-*) were answered
        with a 5xx over 5 minutes, for 5 minutes (Cloud Run request_count, all HTTP functions together).

        First: open the dashboard "${var.prefix} operations", chart "5xx by function", to see which function fails.
        Then in Logs Explorer: `resource.type="cloud_run_revision" severity>=ERROR resource.labels.service_name="<it>"`
        (the request lines carry errorCode; an "unhandled error" line carries the stack trace). A recent deploy is the
        usual cause: roll back by re-running the last good build. SYSTEM_UNAVAILABLE points at Firestore, Storage or
        the Transcoder API. Runbook: ${local.runbook}.
      EOT
      condition          = "5xx / all requests of the HTTP functions (Cloud Run request_count)"
      filter             = "${local.cloud_run_requests} AND metric.label.response_code_class = \"5xx\""
      denominator_filter = local.cloud_run_requests
      threshold          = var.alerts.error_ratio
      duration           = "300s"
      period             = "300s"
      aligner            = "ALIGN_SUM"
      reducer            = "REDUCE_SUM"
      auto_close         = "1800s"
    }
    # p95 latency per route, from the request log's distribution metric (main.tf): by route template, which Cloud
    # Run's own latency metric cannot split.
    api_latency = {
      display_name = "API p95 latency"
      severity     = "WARNING"
      subject      = "p95 latency of a route above ${var.alerts.latency_p95_seconds} s"
      content      = <<-EOT
        The 95th percentile of the latency the functions measured for one route (metric.label.route in the incident)
        stayed above ${var.alerts.latency_p95_seconds} s for 10 minutes (${local.user_metric.http_request_duration_seconds}).

        First: dashboard "${var.prefix} operations", chart "Latency p95 by route": one route or all of them? One route:
        its function's logs and Firestore (a missing index makes a query slow or fail: firestore.indexes.json). All
        routes: cold starts (instance count at 0, min_instances) or a dependency answering slowly. Runbook: ${local.runbook}.
      EOT
      condition    = "p95 request latency by route (${google_logging_metric.http_request_duration_seconds.name})"
      filter       = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.user_metric.http_request_duration_seconds}\""
      threshold    = var.alerts.latency_p95_seconds
      duration     = "600s"
      period       = "300s"
      aligner      = "ALIGN_DELTA"
      reducer      = "REDUCE_PERCENTILE_95"
      group_by     = ["metric.label.route"]
      auto_close   = "1800s"
    }
    # Failed transcoding jobs in the last hour (metrics.tf: outcome "failed", and "swept" for a sweep that timed
    # jobs out).
    transcode_failures = {
      display_name = "transcode failures"
      severity     = "ERROR"
      subject      = "more than ${var.alerts.transcode_failures_per_hour} transcode failures in an hour"
      content      = <<-EOT
        More than ${var.alerts.transcode_failures_per_hour} transcoding jobs failed (or stuck-job sweeps timed jobs out)
        within one hour (${local.user_metric.transcode_outcomes}, outcome failed or swept).

        First: Logs Explorer, `jsonPayload.action="failed"` (and `jsonPayload.action="swept"` for timeouts) under the
        ${var.prefix}-on-transcoder-event, ${var.prefix}-on-source-uploaded, ${var.prefix}-transcode-start and
        ${var.prefix}-sweep-stuck-jobs services: `reason` says why (the Transcoder API's error, a source it cannot read,
        outputs missing). Many at once: Transcoder API quota or an outage (console, Transcoder API), or a bad upload
        client. Timeouts: jobs ran longer than transcode_timeout_seconds. Runbook: ${local.runbook}.
      EOT
      condition    = "failed transcodes per hour (${google_logging_metric.transcode_outcomes.name})"
      filter       = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.user_metric.transcode_outcomes}\" AND metric.label.outcome = one_of(\"failed\", \"swept\")"
      threshold    = var.alerts.transcode_failures_per_hour
      duration     = "0s"
      period       = "3600s"
      aligner      = "ALIGN_SUM"
      reducer      = "REDUCE_SUM"
      auto_close   = "3600s"
    }
    # Events that failed max_delivery_attempts times wait in the dead-letter subscription (modules/data/pubsub.tf),
    # fed by every Eventarc subscription (modules/functions/postdeploy.tf). Nothing reads that pull subscription, so a
    # message stays (7 days) until an operator pulls it: the incident stays open while any is waiting.
    dead_letters = {
      display_name = "dead-lettered events"
      severity     = "ERROR"
      subject      = "events in the dead-letter subscription ${local.dead_letter_subscription}"
      content      = <<-EOT
        More than ${var.alerts.dead_letter_messages} event(s) wait in the dead-letter subscription
        ${local.dead_letter_subscription}: an event function failed on them (5xx or an unhandled error) on every
        delivery, so an upload was never transcoded or a job's completion never recorded.

        First: `gcloud pubsub subscriptions pull ${local.dead_letter_subscription} --project ${var.project_id} --limit 5`
        (without --auto-ack) to see which events; then the function's logs (`jsonPayload.action="retry"` or "unhandled
        error" lines) for why. After fixing the cause, re-trigger the work (re-upload, or let the stuck-job sweep finish
        the job) and ack the dead letters; the incident closes when the subscription is empty. Runbook: ${local.runbook}.
      EOT
      condition    = "undelivered messages in ${local.dead_letter_subscription}"
      filter       = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.subscription_id = \"${local.dead_letter_subscription}\""
      threshold    = var.alerts.dead_letter_messages
      duration     = "0s"
      period       = "300s"
      aligner      = "ALIGN_MAX"
      reducer      = "REDUCE_MAX"
      auto_close   = "604800s"
    }
    # Requests Cloud Armor denies at the edge (modules/edge/armor.tf: the per-IP throttle and ban answer 429, the
    # Log4j rule 403), from Cloud Armor's own request count on the policy (blocked=true).
    armor_blocked = {
      display_name = "Cloud Armor blocking a spike"
      severity     = "WARNING"
      subject      = "Cloud Armor blocks more than ${var.alerts.armor_blocked_per_minute} requests a minute"
      content      = <<-EOT
        Cloud Armor (policy ${var.security_policy}) denied more than ${var.alerts.armor_blocked_per_minute} requests a
        minute for 5 minutes: clients over the per-IP rate limits (429, or banned), or Log4j probes (403).

        First: the load balancer's request log, `resource.type="http_load_balancer"
        jsonPayload.enforcedSecurityPolicy.outcome="DENY"`, grouped by `jsonPayload.remoteIp` and
        `jsonPayload.enforcedSecurityPolicy.priority`. A few addresses: abuse, the policy is doing its job (add a deny
        rule if it persists). Many ordinary clients: the limits are too tight for real traffic (stack variable armor).
        Runbook: ${local.runbook}.
      EOT
      condition    = "requests denied by ${var.security_policy} per minute"
      filter       = local.armor_blocked
      threshold    = var.alerts.armor_blocked_per_minute
      duration     = "300s"
      period       = "60s"
      aligner      = "ALIGN_SUM"
      reducer      = "REDUCE_SUM"
      auto_close   = "1800s"
    }
  }
}

resource "google_monitoring_alert_policy" "this" {
  for_each              = local.alert_policies
  project               = var.project_id
  display_name          = "${var.prefix}: ${each.value.display_name}"
  combiner              = "OR"
  severity              = each.value.severity
  notification_channels = var.notification_channels
  user_labels           = var.labels

  documentation {
    subject   = "${var.prefix}: ${each.value.subject}"
    mime_type = "text/markdown"
    content   = each.value.content
  }

  conditions {
    display_name = each.value.condition
    condition_threshold {
      filter                  = each.value.filter
      denominator_filter      = try(each.value.denominator_filter, null)
      comparison              = "COMPARISON_GT"
      threshold_value         = each.value.threshold
      duration                = each.value.duration
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
      aggregations {
        alignment_period     = each.value.period
        per_series_aligner   = each.value.aligner
        cross_series_reducer = each.value.reducer
        group_by_fields      = try(each.value.group_by, [])
      }
      # A ratio (api_errors) aggregates its denominator the same way.
      dynamic "denominator_aggregations" {
        for_each = try(each.value.denominator_filter, null) == null ? [] : [each.value]
        content {
          alignment_period     = each.value.period
          per_series_aligner   = each.value.aligner
          cross_series_reducer = each.value.reducer
        }
      }
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = each.value.auto_close
  }
}
