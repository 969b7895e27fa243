# One dashboard: API traffic and 5xx by function, latency by route, the pipeline's outcomes and dropped events,
# dead letters and Cloud Armor denials. Built in HCL (one entry of local.charts per chart, laid out two per row of
# the 48-column mosaicLayout) and encoded with jsonencode; the JSON is the Dashboard resource of the Cloud
# Monitoring dashboards API.

locals {
  latency_filter = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.user_metric.http_request_duration_seconds}\""

  charts = [
    {
      title  = "Requests/s by function (Cloud Run)", plot = "LINE", filter = local.cloud_run_requests
      period = "60s", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["resource.label.service_name"]
    },
    {
      title  = "5xx/s by function (Cloud Run)", plot = "STACKED_AREA"
      filter = "${local.cloud_run_requests} AND metric.label.response_code_class = \"5xx\""
      period = "60s", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["resource.label.service_name"]
    },
    {
      title  = "Latency p50 by route (s)", plot = "LINE", filter = local.latency_filter
      period = "300s", aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_50", group_by = ["metric.label.route"]
    },
    {
      title     = "Latency p95 by route (s)", plot = "LINE", filter = local.latency_filter
      period    = "300s", aligner = "ALIGN_DELTA", reducer = "REDUCE_PERCENTILE_95", group_by = ["metric.label.route"]
      threshold = var.alerts.latency_p95_seconds
    },
    {
      title  = "Transcode outcomes per hour (swept: a sweep that timed jobs out)", plot = "STACKED_BAR"
      filter = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.user_metric.transcode_outcomes}\""
      period = "3600s", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["metric.label.outcome"]
    },
    {
      title  = "Dropped / ignored / stale events per hour by function", plot = "STACKED_BAR"
      filter = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.user_metric.dropped_events}\""
      period = "3600s", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["metric.label.function", "metric.label.action"]
    },
    {
      title  = "Dead letters waiting in ${local.dead_letter_subscription}", plot = "LINE"
      filter = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.subscription_id = \"${local.dead_letter_subscription}\""
      period = "300s", aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group_by = []
    },
    {
      title  = "Events dead-lettered per hour by Eventarc subscription", plot = "STACKED_BAR"
      filter = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.label.subscription_id = ${local.eventarc_subscriptions}"
      period = "3600s", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["resource.label.subscription_id"]
    },
    {
      title     = "Requests denied by Cloud Armor per minute (${var.security_policy})", plot = "LINE", filter = local.armor_blocked
      period    = "60s", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = []
      threshold = var.alerts.armor_blocked_per_minute
    },
  ]

  dashboard = {
    displayName = "${var.prefix} operations"
    mosaicLayout = {
      columns = 48
      tiles = [
        for i, c in local.charts : {
          xPos   = (i % 2) * 24
          yPos   = floor(i / 2) * 16
          width  = 24
          height = 16
          widget = {
            title = c.title
            xyChart = {
              dataSets = [{
                plotType = c.plot
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = c.filter
                    aggregation = {
                      alignmentPeriod    = c.period
                      perSeriesAligner   = c.aligner
                      crossSeriesReducer = c.reducer
                      groupByFields      = c.group_by
                    }
                  }
                }
              }]
              thresholds = try([{ value = c.threshold, label = "alert" }], [])
            }
          }
        }
      ]
    }
  }
}

resource "google_monitoring_dashboard" "operations" {
  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard)
}
