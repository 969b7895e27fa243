# One Cloud Run function (gen2) per entry of functions/functions.yaml, the one list of kstream's functions.
# Names, entry points, triggers, sizes and settings all come from that file; nothing here lists functions again.

locals {
  spec     = yamldecode(file(var.functions_file))
  defaults = local.spec.defaults
  # What a viewer's role grants (kstream/auth.py ROLE_PERMISSIONS "user"): the functions needing one of these are the
  # viewer's read path, which var.viewer_scaling sizes.
  viewer_permissions = ["videos:read", "videos:stream"]

  # Each entry normalised to one shape (missing keys from `defaults`, then nulls), keyed by its name.
  functions = {
    for f in local.spec.functions : f.name => {
      name        = f.name
      entry_point = f.entry_point
      runtime     = try(f.runtime, local.defaults.runtime)
      http        = try(f.http, null) == null ? null : { method = upper(f.http.method), path = f.http.path }
      event = try(f.event, null) == null ? null : {
        type   = f.event.type
        bucket = try(f.event.bucket, null)
        topic  = try(f.event.topic, null)
      }
      access      = try(f.access, try(f.event, null) == null ? "public" : "service")
      kind        = try(f.event, null) == null ? try(f.access, "public") : "event"
      env         = try(f.env, [])
      memory      = try(f.memory, local.defaults.memory)
      timeout     = try(f.timeout_seconds, local.defaults.timeout_seconds)
      concurrency = try(f.concurrency, local.defaults.concurrency)
      # The viewer's read path (var.viewer_scaling) may be sized by the environment for a premiere (docs/scale.md);
      # every other count is the list's. Both within the environment's caps.
      min_instances = min(coalesce(contains(local.viewer_permissions, try(f.permission, "")) ? var.viewer_scaling.min_instances : null, try(f.min_instances, local.defaults.min_instances)), var.scaling.min_instances_cap)
      max_instances = min(coalesce(contains(local.viewer_permissions, try(f.permission, "")) ? var.viewer_scaling.max_instances : null, try(f.max_instances, local.defaults.max_instances)), var.scaling.max_instances_cap)
      rate_limited  = try(f.rate_limited, false)
    }
  }

  http_functions  = { for name, f in local.functions : name => f if f.http != null }
  event_functions = { for name, f in local.functions : name => f if f.event != null }
}

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images are rebuilt from the bundle in the repository's own project; CMEK would add a KMS key to operate for no data of value.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.prefix}-functions"
  description   = "Images Cloud Build makes from the kstream function bundle."
  format        = "DOCKER"
  labels        = var.labels

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }
}

resource "google_cloudfunctions2_function" "this" {
  for_each    = local.functions
  project     = var.project_id
  location    = var.region
  name        = "${var.prefix}-${each.key}"
  description = "kstream ${each.key} (${each.value.http != null ? "${each.value.http.method} ${each.value.http.path}" : each.value.event.type})"
  labels      = merge(var.labels, { function = each.key, kind = each.value.kind })

  build_config {
    runtime           = each.value.runtime
    entry_point       = each.value.entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = var.bundle.bucket
        object = google_storage_bucket_object.bundle.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    available_memory                 = each.value.memory
    available_cpu                    = each.value.concurrency > 1 ? "1" : null # concurrency > 1 needs a whole vCPU
    timeout_seconds                  = each.value.timeout
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    # HTTP functions answer only the load balancer (modules/edge); event functions only Eventarc.
    ingress_settings               = each.value.http != null ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    environment_variables          = local.environment[each.key]

    dynamic "secret_environment_variables" {
      for_each = { for setting in each.value.env : setting => local.secret_settings[setting] if contains(keys(local.secret_settings), setting) }
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret_id
        version    = secret_environment_variables.value.version
      }
    }
  }

  # Eventarc trigger for `event` entries: storage finalize on the bucket of the entry's role, or Pub/Sub
  # messagePublished on the topic of its role. Failures are retried (the function raises to be retried, returns to
  # drop); events that keep failing go to the dead-letter topic (postdeploy.tf).
  dynamic "event_trigger" {
    for_each = each.value.event == null ? [] : [each.value.event]
    content {
      event_type            = event_trigger.value.type
      trigger_region        = var.region
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = google_service_account.function[each.key].email
      pubsub_topic          = event_trigger.value.topic == null ? null : var.event_sources.topics[event_trigger.value.topic]

      dynamic "event_filters" {
        for_each = event_trigger.value.bucket == null ? [] : [var.event_sources.buckets[event_trigger.value.bucket]]
        content {
          attribute = "bucket"
          value     = event_filters.value
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.unknown_settings[each.key]) == 0
      error_message = "${each.key} reads settings Terraform does not provide: ${join(", ", local.unknown_settings[each.key])}. Add them to modules/functions/settings.tf."
    }
    precondition {
      condition     = each.value.event == null || try(contains(keys(var.event_sources.buckets), each.value.event.bucket), false) || try(contains(keys(var.event_sources.topics), each.value.event.topic), false)
      error_message = "${each.key}: its event names a bucket or topic role that event_sources does not map."
    }
  }

  depends_on = [
    google_project_iam_member.function,
    google_storage_bucket_iam_member.function,
    google_secret_manager_secret_iam_member.function,
    google_project_iam_member.build,
    google_artifact_registry_repository_iam_member.build,
    google_storage_bucket_iam_member.build,
    google_project_iam_member.storage_agent_publishes,
  ]
}
