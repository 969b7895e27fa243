# Firestore (native mode) and the composite indexes the catalog declares in functions/firestore.indexes.json
# (Firebase CLI format). Every entry of that file is deployed; nothing is listed twice.

locals {
  index_spec = jsondecode(file(var.indexes_file))

  # Key: collection group, scope and the ordered fields, so that editing an index replaces exactly that index.
  indexes = {
    for ix in try(local.index_spec.indexes, []) :
    format("%s/%s/%s", ix.collectionGroup, try(ix.queryScope, "COLLECTION"), join(",", [
      for f in ix.fields : "${f.fieldPath}:${try(f.order, f.arrayConfig, f.vectorConfig.dimension, "")}"
    ])) => ix
  }

  field_overrides = {
    for fo in try(local.index_spec.fieldOverrides, []) : "${fo.collectionGroup}/${fo.fieldPath}" => fo
  }
}

resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = var.firestore.database
  location_id                       = var.firestore.location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = var.firestore.point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.firestore.delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # With delete protection the database outlives `terraform destroy` (ABANDON); without it (dev) it is deleted.
  deletion_policy = var.firestore.delete_protection ? "ABANDON" : "DELETE"
}

resource "google_firestore_index" "this" {
  for_each    = local.indexes
  project     = var.project_id
  database    = google_firestore_database.this.name
  collection  = each.value.collectionGroup
  query_scope = try(each.value.queryScope, "COLLECTION")
  api_scope   = "ANY_API"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.fieldPath
      order        = try(fields.value.order, null)
      array_config = try(fields.value.arrayConfig, null)
    }
  }
}

# fieldOverrides: single-field index exemptions and TTL policies.
resource "google_firestore_field" "this" {
  for_each   = local.field_overrides
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value.collectionGroup
  field      = each.value.fieldPath

  # An empty list of indexes exempts the field from automatic indexing, as in the Firebase CLI.
  index_config {
    dynamic "indexes" {
      for_each = try(each.value.indexes, [])
      content {
        query_scope  = try(indexes.value.queryScope, "COLLECTION")
        order        = try(indexes.value.order, null)
        array_config = try(indexes.value.arrayConfig, null)
      }
    }
  }

  dynamic "ttl_config" {
    for_each = try(each.value.ttl, false) ? [1] : []
    content {}
  }
}
