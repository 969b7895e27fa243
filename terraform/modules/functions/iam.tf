# Least privilege, derived from each function's functions.yaml entry: its kind (public | user | service | event)
# and the settings it reads. A function that does not read a bucket's setting gets nothing on that bucket, and so
# on. tests/unit/test_terraform.py evaluates these rules against functions.yaml and checks every resulting role
# against an allow-list per kind.

locals {
  # Project-level roles. A function gets a role when its kind is listed in `kinds` or it reads one of `env`,
  # unless it reads one of `unless_env`. (Firestore and Firebase Auth have no resource-level IAM for these uses.)
  project_role_rules = {
    # Sessions, catalog and job state live in Firestore; the public token check keeps no state.
    "roles/datastore.user" = { kinds = ["user", "service", "event"], env = [], unless_env = [] }
    # verify_id_token(check_revoked=True) looks the user up (firebaseauth.users.get).
    "roles/firebaseauth.viewer" = { kinds = ["public", "user"], env = [], unless_env = [] }
    # Eventarc delivers to event functions with their own account as the trigger identity.
    "roles/eventarc.eventReceiver" = { kinds = ["event"], env = [], unless_env = [] }
    # Creating a Transcoder job needs transcoder.jobs.create, which only transcoder.admin holds. The functions that
    # create jobs are exactly those that name the notification topic in the job config.
    "roles/transcoder.admin" = { kinds = [], env = ["KSTREAM_TRANSCODER_TOPIC"], unless_env = [] }
    # Reading job state only.
    "roles/transcoder.viewer" = { kinds = [], env = ["KSTREAM_TRANSCODER_LOCATION"], unless_env = ["KSTREAM_TRANSCODER_TOPIC"] }
  }

  project_grants = merge([
    for role, rule in local.project_role_rules : {
      for name, f in local.functions : "${name}/${role}" => { name = name, role = role }
      if(contains(rule.kinds, f.kind) || length(setintersection(toset(rule.env), toset(f.env))) > 0)
      && length(setintersection(toset(rule.unless_env), toset(f.env))) == 0
    }
  ]...)

  # Bucket roles: a function that reads a bucket's setting may read that bucket. Writing is the exception, listed
  # here by function name (the test checks every name exists in functions.yaml):
  #   upload: upload-start signs PUT URLs (a signed request acts as the signer), upload-chunk stores chunks,
  #           upload-complete deletes them after compose;
  #   source: upload-complete composes the chunks into the source object;
  #   media:  renditions are written by the Transcoder API (its service agent, modules/storage); subtitle tracks
  #           by subtitle-put / subtitle-delete (a track added or removed after transcoding, no new job) and by
  #           the functions that finish jobs, on-transcoder-event and sweep-stuck-jobs (tracks that arrived while
  #           the job ran are written when it succeeds: kstream/subtitles/tracks.py).
  bucket_settings = {
    KSTREAM_UPLOAD_BUCKET = "upload"
    KSTREAM_SOURCE_BUCKET = "source"
    KSTREAM_MEDIA_BUCKET  = "media"
  }
  bucket_writers = {
    upload = ["upload-start", "upload-chunk", "upload-complete"]
    source = ["upload-complete"]
    media  = ["subtitle-put", "subtitle-delete", "on-transcoder-event", "sweep-stuck-jobs"]
  }

  bucket_grants = merge([
    for setting, bucket in local.bucket_settings : {
      for name, f in local.functions : "${name}/${bucket}" => {
        name   = name
        bucket = var.settings.buckets[bucket]
        role   = contains(local.bucket_writers[bucket], name) ? "roles/storage.objectUser" : "roles/storage.objectViewer"
      } if contains(f.env, setting)
    }
  ]...)

  # Secret roles: a function that reads a secret setting (settings.tf secret_settings) may access that secret only.
  secret_grants = merge([
    for setting, secret in local.secret_settings : {
      for name, f in local.functions : "${name}/${setting}" => { name = name, secret_id = secret.secret_id }
      if contains(f.env, setting)
    }
  ]...)
}

resource "google_project_iam_member" "function" {
  for_each = local.project_grants
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_storage_bucket_iam_member" "function" {
  for_each = local.bucket_grants
  bucket   = each.value.bucket
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_secret_manager_secret_iam_member" "function" {
  for_each  = local.secret_grants
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

# V4 signed URLs without key files: a function that signs (it reads KSTREAM_SIGNER_EMAIL, set to its own account)
# calls IAM signBlob as itself, which needs Token Creator on ITSELF, not on the project.
resource "google_service_account_iam_member" "signs_as_itself" {
  for_each           = { for name, f in local.functions : name => f if contains(f.env, "KSTREAM_SIGNER_EMAIL") }
  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Eventarc invokes an event function as the function's own account: it may invoke that one service only.
resource "google_cloud_run_v2_service_iam_member" "event_invoker" {
  for_each = local.event_functions
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}

# Cloud Storage publishes object events to Eventarc's transport topic as its service agent.
resource "google_project_iam_member" "storage_agent_publishes" {
  count   = length([for f in local.event_functions : f if f.event.bucket != null]) > 0 ? 1 : 0
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.service_agents.storage}"
}

# Cloud Build: write logs, push images to our repository, read the bundle.
resource "google_project_iam_member" "build" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_artifact_registry_repository_iam_member" "build" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

resource "google_storage_bucket_iam_member" "build" {
  bucket = var.bundle.bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}
