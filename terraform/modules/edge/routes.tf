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
#   2000      every other path (prefix /) to the default function (a public one), which answers 404
#             ROUTE_NOT_FOUND in the API's error envelope; the path matcher's default_service is the same function
# Functions sharing one path with different methods (PUT and DELETE of a subtitle track): every one but the last in
# route order also matches its method (the `:method` pseudo-header); the last takes every other method of the path,
# so a CORS preflight (OPTIONS) reaches a function of that path, which answers it for all of them.
# Each rule says whether Cloud Armor's 429 gets the API's envelope there (edge_429, see the URL map below).

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

  # per path, the function last in route order: it takes every method; the others of that path match their own
  path_last = {
    for path in distinct([for f in var.functions : f.path]) :
    path => reverse([for name in local.route_order : name if var.functions[name].path == path])[0]
  }
  method = {
    for name, f in var.functions : name => local.path_last[f.path] == name ? null : upper(f.method)
  }

  default_function = try(sort([for name, f in var.functions : name if f.access == "public"])[0], sort(keys(var.functions))[0])

  route_rules = concat(
    [{
      priority  = 10
      service   = var.media.backend_bucket
      templates = []
      prefixes  = [local.media_prefix]
      rewrite   = ["/"]
      method    = null
      edge_429  = false # no Cloud Armor on the CDN backend bucket
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
      method   = local.method[name]
      edge_429 = !var.functions[name].rate_limited
    }],
    [for i, name in local.route_order : {
      priority  = 1000 + i
      service   = google_compute_backend_service.function[name].id
      templates = [replace(local.routes[name].template, "/^\\/api\\//", "/api/*/")]
      prefixes  = []
      rewrite   = []
      method    = local.method[name]
      edge_429  = !var.functions[name].rate_limited
    } if local.routes[name].versioned],
    [{
      priority  = 2000
      service   = google_compute_backend_service.function[local.default_function].id
      templates = []
      prefixes  = ["/"]
      rewrite   = []
      method    = null
      edge_429  = !var.functions[local.default_function].rate_limited
    }],
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
            dynamic "header_matches" {
              for_each = route_rules.value.method == null ? [] : [route_rules.value.method]
              content {
                header_name = ":method"
                exact_match = header_matches.value
              }
            }
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

        # Cloud Armor's over-limit answer (deny(429), armor.tf) as the API's envelope (errors.tf). A custom error
        # response policy matches a status code, whoever produced it: Cloud Armor, the load balancer or the backend
        # (there is no setting to limit it to Cloud Armor's denials). So it sits on each route rule whose function
        # never answers 429 itself, and nowhere above the rules: a default policy of the path matcher or of the URL
        # map would also apply to the rules that have none. The routes of functions marked rate_limited in
        # functions.yaml (upload-start, whose per-user quota answers the envelope with Retry-After and X-RateLimit-*)
        # get none, so that 429 passes through untouched; Cloud Armor's own 429 there stays Google's generic one. Elsewhere a 429 that
        # Cloud Run itself gives (no instance free) gets the envelope too.
        dynamic "custom_error_response_policy" {
          for_each = route_rules.value.edge_429 ? [google_compute_backend_bucket.errors.id] : []
          content {
            error_service = custom_error_response_policy.value
            error_response_rule {
              match_response_codes   = ["429"]
              path                   = "/${local.rate_limit_error.object}"
              override_response_code = 429
            }
          }
        }
      }
    }
  }
}
