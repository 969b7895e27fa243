output "buckets" {
  description = "Bucket names by role: upload, source, media, bundles."
  value       = { for role, bucket in google_storage_bucket.this : role => bucket.name }
}
