output "database" {
  description = "Firestore database name."
  value       = google_firestore_database.this.name
}

output "indexes" {
  description = "Deployed composite indexes, keyed by collection group, scope and fields."
  value       = { for k, ix in google_firestore_index.this : k => ix.name }
}

output "topics" {
  description = "Topic ids (projects/P/topics/T) by role: transcoder_events, dead_letter."
  value = {
    transcoder_events = google_pubsub_topic.transcoder_events.id
    dead_letter       = google_pubsub_topic.dead_letter.id
  }
}

output "topic_names" {
  description = "Short topic names by role (what KSTREAM_TRANSCODER_TOPIC holds)."
  value = {
    transcoder_events = google_pubsub_topic.transcoder_events.name
    dead_letter       = google_pubsub_topic.dead_letter.name
  }
}

output "dead_letter_subscription" {
  description = "Pull subscription holding dead-lettered events."
  value       = google_pubsub_subscription.dead_letter.id
}
