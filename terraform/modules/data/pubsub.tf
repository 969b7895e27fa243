# Pub/Sub: the topic the Transcoder API publishes job state to (an event function consumes it through Eventarc),
# and the dead-letter topic where Eventarc subscriptions forward events that keep failing.

resource "google_pubsub_topic" "transcoder_events" {
  #checkov:skip=CKV_GCP_83:Job state messages carry job names and states only; Google-managed encryption is enough and CMEK would add a KMS key to operate.
  project                    = var.project_id
  name                       = "${var.prefix}-transcoder-events"
  labels                     = var.labels
  message_retention_duration = "86400s"
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Dead-lettered events are object and job notifications without user data; Google-managed encryption is enough.
  project                    = var.project_id
  name                       = "${var.prefix}-events-dead-letter"
  labels                     = var.labels
  message_retention_duration = "604800s"
}

# Messages published to a topic without subscriptions are lost: this one keeps dead letters for inspection and
# replay (`gcloud pubsub subscriptions pull`).
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.prefix}-events-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  labels                     = var.labels
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # never expires, however quiet
  }
}

# The Transcoder API publishes job notifications as its service agent.
resource "google_pubsub_topic_iam_member" "transcoder_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.transcoder_events.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.service_agents.transcoder}"
}

# Dead-letter forwarding is done by the Pub/Sub service agent of this project.
resource "google_pubsub_topic_iam_member" "pubsub_forwards_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.service_agents.pubsub}"
}
