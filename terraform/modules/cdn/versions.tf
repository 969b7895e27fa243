# Versions are constrained once, in stack/versions.tf.
terraform {
  required_providers {
    google = {
      source = "hashicorp/google"
    }
  }
}
