# The one place where Terraform and provider versions are constrained. The environment roots configure the
# providers and call this module; the modules under it only declare which providers they use (source, no version).
terraform {
  required_version = ">= 1.7.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.41: first GA release with route-level custom_error_response_policy (modules/edge/routes.tf)
      version = "~> 6.41"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.41"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }
}
