# The KSTREAM_* settings (functions/kstream/settings.py) Terraform can give a function. A function gets exactly
# the settings its functions.yaml entry lists in `env`; a listed setting missing here fails the plan.

locals {
  settings = merge(var.settings.extra, {
    KSTREAM_PROJECT_ID                = var.project_id
    KSTREAM_REGION                    = var.region
    KSTREAM_UPLOAD_BUCKET             = var.settings.buckets.upload
    KSTREAM_SOURCE_BUCKET             = var.settings.buckets.source
    KSTREAM_MEDIA_BUCKET              = var.settings.buckets.media
    KSTREAM_STORAGE_PUBLIC_URL        = var.settings.storage_public_url
    KSTREAM_TRANSCODER_LOCATION       = var.settings.transcoder_location
    KSTREAM_TRANSCODER_TOPIC          = var.settings.transcoder_topic
    KSTREAM_TRANSCODE_TIMEOUT_SECONDS = tostring(var.settings.transcode_timeout_seconds)
    KSTREAM_CDN_BASE_URL              = var.settings.cdn_base_url
    KSTREAM_CDN_KEY_NAME              = var.settings.cdn_key.name
    KSTREAM_SERVICE_ACCOUNTS          = join(",", var.settings.service_callers)
    KSTREAM_SERVICE_AUDIENCE          = var.settings.service_audience
    KSTREAM_API_BASE_URL              = var.settings.api_base_url
    KSTREAM_CORS_ALLOWED_ORIGINS      = join(",", var.settings.cors_allowed_origins)
  })

  # Settings whose value is the function's own service account (URL signing through IAM signBlob).
  self_settings = ["KSTREAM_SIGNER_EMAIL"]

  # Settings read from Secret Manager at instance start (secret_environment_variables), never put in plain env.
  # A function that lists one gets roles/secretmanager.secretAccessor on that secret only (iam.tf).
  secret_settings = {
    # Cloud CDN signing key (modules/cdn reads the same secret version).
    KSTREAM_CDN_KEY_SECRET = {
      secret_id = var.settings.cdn_key.secret_id
      version   = var.settings.cdn_key.secret_version
    }
    # HMAC key of transcode completion callbacks; the operator creates the secret (docs/deploy.md).
    KSTREAM_CALLBACK_SIGNING_SECRET = {
      secret_id = var.settings.callback_secret.secret_id
      version   = var.settings.callback_secret.secret_version
    }
  }

  known_settings = concat(keys(local.settings), local.self_settings, keys(local.secret_settings))

  unknown_settings = {
    for name, f in local.functions : name => [for setting in f.env : setting if !contains(local.known_settings, setting)]
  }

  environment = {
    for name, f in local.functions : name => merge(
      { for setting in f.env : setting => local.settings[setting] if contains(keys(local.settings), setting) },
      { for setting in f.env : setting => google_service_account.function[name].email if contains(local.self_settings, setting) },
      { LOG_EXECUTION_ID = "true" },
    )
  }
}
