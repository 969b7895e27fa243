# One runtime service account per function (least privilege: see iam.tf), and one for Cloud Build to build them.
# Account ids are at most 30 characters: <prefix>-<name> when it fits, else a stable shortening with a hash of the
# name (deterministic, not random).

locals {
  account_ids = {
    for name in keys(local.functions) : name => (
      length("${var.prefix}-${name}") <= 30
      ? "${var.prefix}-${name}"
      : "${trimsuffix(substr("${var.prefix}-${name}", 0, 21), "-")}-${substr(sha256(name), 0, 8)}"
    )
  }
}

resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = local.account_ids[each.key]
  display_name = "kstream ${each.key} function"
  description  = "Runtime identity of ${var.prefix}-${each.key}; its roles follow from its functions.yaml entry (modules/functions/iam.tf)."
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.prefix}-fn-build"
  display_name = "kstream function builds"
  description  = "Cloud Build identity that turns the function bundle into images."
}
