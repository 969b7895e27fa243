"""The Google Cloud of kstream on one laptop: emulators, the gateway that plays the load balancer and GCS front,
the event bridge that plays Eventarc, and the local Transcoder API."""
