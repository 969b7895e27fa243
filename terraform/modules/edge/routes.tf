# The URL map, built from functions.yaml's HTTP paths (passed in as var.functions). Each spec path answers in
# three forms, as the functions themselves do (functions/kstream/registry.py):
#   /api/upload/start        the unversioned (latest) form
#   /api/v1/upload/start     the supported version
#   /api/<any>/upload/start  any other version segment still reaches the function, which answers
#                            400 API_VERSION_UNSUPPORTED instead of the load balancer's 404
# {param} segments become one-segment `*` wildcards. Route rules are tried by priority:
#   10        /media/* to the CDN backend bucket (path rewritten to the object name)
#   100 + i   exact and v1 forms, paths with more literal segments first (so /api/metadata/videos/search is
#             tried before a template that would take "metadata" as a parameter)
#   1000 + i  the any-version forms, in the same order, after every exact form
# Unmatched paths go to the default function (a public one), which answers 404 ROUTE_NOT_FOUND in the API's
# error envelope.

locals {
  media_prefix = "${trimsuffix(var.media.path, "/")}/"

  routes = {
    for name, f in var.functions : name => {
      template         = replace(f.path, "/\\{[^}/]+\\}/", "*")
      versioned        = startswith(f.path, "/api/")
      literal_segments = length([for s in split("/", f.path) : s if s != "" && !startswith(s, "{")])
    }
  }

  route_order = [
    for key in sort([for name, r in local.routes : format("%03d|%s", 100 - r.literal_segments, name)]) :
    split("|", key)[1]
  ]

  default_function = try(sort([for name, f in var.functions : name if f.access == "public"])[0], sort(keys(var.functions))[0])

  route_rules = concat(
    [{
      priority  = 10
      service   = var.media.backend_bucket
      templates = []
      prefixes  = [local.media_prefix]
      rewrite   = ["/"]
    }],
    [for i, name in local.route_order : {
      priority = 100 + i
      service  = google_compute_backend_service.function[name].id
      templates = local.routes[name].versioned ? [
        local.routes[name].template,
        replace(local.routes[name].template, "/^\\/api\\//", "/api/v1/"),
      ] : [local.routes[name].template]
      prefixes = []
      rewrite  = []
    }],
    [for i, name in local.route_order : {
      priority  = 1000 + i
      service   = google_compute_backend_service.function[name].id
      templates = [replace(local.routes[name].template, "/^\\/api\\//", "/api/*/")]
      prefixes  = []
      rewrite   = []
    } if local.routes[name].versioned],
  )
}

resource "google_compute_url_map" "https" {
  project         = var.project_id
  name            = "${var.prefix}-edge"
  description     = "kstream API routes from functions.yaml, and /media to Cloud CDN"
  default_service = google_compute_backend_service.function[local.default_function].id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "kstream"
  }

  path_matcher {
    name            = "kstream"
    default_service = google_compute_backend_service.function[local.default_function].id

    dynamic "route_rules" {
      for_each = local.route_rules
      content {
        priority = route_rules.value.priority
        service  = route_rules.value.service

        dynamic "match_rules" {
          for_each = route_rules.value.templates
          content {
            path_template_match = match_rules.value
          }
        }

        dynamic "match_rules" {
          for_each = route_rules.value.prefixes
          content {
            prefix_match = match_rules.value
          }
        }

        dynamic "route_action" {
          for_each = route_rules.value.rewrite
          content {
            url_rewrite {
              path_prefix_rewrite = route_action.value
            }
          }
        }
      }
    }
  }
}
