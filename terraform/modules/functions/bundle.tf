# The deployment bundle (build/function-source, made by `make bundle`) is zipped once and uploaded under its
# content hash: a change of content is a new object, hence a new build of every function; no change, no redeploy.

data "archive_file" "bundle" {
  type             = "zip"
  source_dir       = var.bundle.source_dir
  output_path      = var.bundle.output_path
  output_file_mode = "0644"
}

resource "google_storage_bucket_object" "bundle" {
  name         = "bundle-${data.archive_file.bundle.output_md5}.zip"
  bucket       = var.bundle.bucket
  source       = data.archive_file.bundle.output_path
  content_type = "application/zip"
}
