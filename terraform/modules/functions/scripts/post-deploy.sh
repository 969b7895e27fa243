#!/usr/bin/env bash
# Applied by modules/functions/postdeploy.tf after a function deploys; safe to run again.
#   post-deploy.sh public-invoker   PROJECT REGION SERVICE
#   post-deploy.sh dead-letter      PROJECT TRIGGER DEAD_LETTER_TOPIC MAX_DELIVERY_ATTEMPTS PUBSUB_AGENT
set -euo pipefail

need() {
  for name in "$@"; do
    if [[ -z "${!name:-}" ]]; then
      echo "post-deploy.sh: $name is not set" >&2
      exit 2
    fi
  done
}

command -v gcloud >/dev/null || { echo "post-deploy.sh: gcloud is not on PATH (see docs/deploy.md)" >&2; exit 2; }

case "${1:-}" in
  public-invoker)
    need PROJECT REGION SERVICE
    # The function's Cloud Run service has the function's name. No public IAM member is ever added.
    gcloud run services update "${SERVICE##*/}" --project "$PROJECT" --region "$REGION" \
      --no-invoker-iam-check --quiet
    ;;
  dead-letter)
    need PROJECT TRIGGER DEAD_LETTER_TOPIC MAX_DELIVERY_ATTEMPTS PUBSUB_AGENT
    subscription="$(gcloud eventarc triggers describe "$TRIGGER" --project "$PROJECT" \
      --format='value(transport.pubsub.subscription)')"
    if [[ -z "$subscription" ]]; then
      echo "post-deploy.sh: trigger $TRIGGER has no Pub/Sub subscription yet" >&2
      exit 1
    fi
    gcloud pubsub subscriptions update "$subscription" --project "$PROJECT" \
      --dead-letter-topic "$DEAD_LETTER_TOPIC" --max-delivery-attempts "$MAX_DELIVERY_ATTEMPTS" \
      --min-retry-delay 10s --max-retry-delay 600s --quiet
    # Forwarding to the dead-letter topic acks the original message as the Pub/Sub service agent.
    gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --project "$PROJECT" \
      --member "serviceAccount:$PUBSUB_AGENT" --role roles/pubsub.subscriber --quiet >/dev/null
    ;;
  *)
    echo "usage: post-deploy.sh public-invoker|dead-letter (settings in the environment)" >&2
    exit 2
    ;;
esac
