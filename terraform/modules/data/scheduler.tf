# The stuck-job sweep: Cloud Scheduler publishes a tick to the sweeper topic on `sweep_schedule`; the event function
# whose functions.yaml entry names topic role `sweeper` consumes it through Eventarc (modules/functions), fails the
# transcoding jobs past their deadline and re-sends lost completion callbacks. The tick carries nothing the function
# reads; a missed or duplicated tick is harmless (the sweep is idempotent, the next tick catches up).

resource "google_pubsub_topic" "sweeper" {
  #checkov:skip=CKV_GCP_83:Sweep ticks carry a constant payload and no data; Google-managed encryption is enough and CMEK would add a KMS key to operate.
  project = var.project_id
  name    = "${var.prefix}-transcode-sweeper"
  labels  = var.labels
}

# A Pub/Sub-target job publishes as the Cloud Scheduler service agent (such jobs take no service account of their
# own): it may publish to this topic and to nothing else kstream made.
resource "google_pubsub_topic_iam_member" "scheduler_publishes_sweeps" {
  project = var.project_id
  topic   = google_pubsub_topic.sweeper.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.service_agents.scheduler}"
}

resource "google_cloud_scheduler_job" "sweeper" {
  project     = var.project_id
  region      = var.region
  name        = "${var.prefix}-transcode-sweeper"
  description = "Starts the kstream stuck-job sweep: fails transcoding jobs past their deadline, re-sends lost callbacks."
  schedule    = var.sweep_schedule
  time_zone   = "Etc/UTC"
  # No retry_config: a tick that could not be published is replaced by the next one. attempt_deadline is ignored
  # for Pub/Sub targets (setting it only makes a permanent diff).

  pubsub_target {
    topic_name = google_pubsub_topic.sweeper.id
    data       = base64encode("sweep") # Pub/Sub needs a non-empty payload or attributes
  }

  depends_on = [google_pubsub_topic_iam_member.scheduler_publishes_sweeps]
}
