# Two settings the Google provider cannot express on a Cloud Run function, applied with gcloud right after each
# deploy (scripts/post-deploy.sh, idempotent; re-run whenever the function or the setting changes):
#
# 1. Public access for HTTP functions WITHOUT a public IAM member: the Cloud Run invoker IAM check is turned off
#    (Google's recommended way, and the only one under a domain-restricted-sharing org policy). Ingress stays
#    ALLOW_INTERNAL_AND_GCLB, so only the load balancer (Cloud Armor in front) reaches them, and every request is
#    authenticated by the function itself (Firebase ID token or Google OIDC token, per functions.yaml `access`).
# 2. Dead-lettering on the Pub/Sub subscription Eventarc created for each event trigger: Eventarc owns that
#    subscription, so Terraform cannot declare it; retries follow its exponential backoff, and after
#    max_delivery_attempts the event goes to the dead-letter topic (modules/data) instead of being dropped.
#
# Needs gcloud where `terraform apply` runs (docs/deploy.md; cloudbuild.yaml applies in the cloud-sdk image).
# Plans and `terraform test` never run provisioners.

resource "terraform_data" "public_invoker" {
  for_each = var.post_deploy.enabled ? local.http_functions : {}
  triggers_replace = [
    google_cloudfunctions2_function.this[each.key].id,
    google_cloudfunctions2_function.this[each.key].update_time,
  ]

  provisioner "local-exec" {
    command = "bash ${path.module}/scripts/post-deploy.sh public-invoker"
    environment = {
      PROJECT = var.project_id
      REGION  = var.region
      SERVICE = google_cloudfunctions2_function.this[each.key].name
    }
  }
}

resource "terraform_data" "dead_letter" {
  for_each = var.post_deploy.enabled ? local.event_functions : {}
  triggers_replace = [
    google_cloudfunctions2_function.this[each.key].event_trigger[0].trigger,
    var.dead_letter.topic,
    var.dead_letter.max_delivery_attempts,
  ]

  provisioner "local-exec" {
    command = "bash ${path.module}/scripts/post-deploy.sh dead-letter"
    environment = {
      PROJECT               = var.project_id
      TRIGGER               = google_cloudfunctions2_function.this[each.key].event_trigger[0].trigger
      DEAD_LETTER_TOPIC     = var.dead_letter.topic
      MAX_DELIVERY_ATTEMPTS = tostring(var.dead_letter.max_delivery_attempts)
      PUBSUB_AGENT          = var.service_agents.pubsub
    }
  }
}
