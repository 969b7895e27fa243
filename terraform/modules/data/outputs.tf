output "database" {
  description = "Firestore database name."
  value       = google_firestore_database.this.name
}

output "indexes" {
  description = "Deployed composite indexes, keyed by collection group, scope and fields."
  value       = { for k, ix in google_firestore_index.this : k => ix.name }
}

output "topics" {
  description = "Topic ids (projects/P/topics/T) by role: transcoder_events, sweeper, dead_letter."
  value = {
    transcoder_events = google_pubsub_topic.transcoder_events.id
    sweeper           = google_pubsub_topic.sweeper.id
    dead_letter       = google_pubsub_topic.dead_letter.id
  }
}

output "topic_names" {
  description = "Short topic names by role (what KSTREAM_TRANSCODER_TOPIC holds)."
  value = {
    transcoder_events = google_pubsub_topic.transcoder_events.name
    sweeper           = google_pubsub_topic.sweeper.name
    dead_letter       = google_pubsub_topic.dead_letter.name
  }
}

output "dead_letter_subscription" {
  description = "Pull subscription holding dead-lettered events."
  value       = google_pubsub_subscription.dead_letter.id
}

output "sweeper_job" {
  description = "Cloud Scheduler job that publishes the stuck-job sweep's ticks (gcloud scheduler jobs run it to sweep now)."
  value       = google_cloud_scheduler_job.sweeper.name
}
