"""The transcoding event functions: decode the CloudEvent, hand it to the service, return its outcome.

    on_source_uploaded   google.cloud.storage.object.v1.finalized on the source bucket; data is the object
                         resource (bucket, name, generation as a decimal string, metadata, size, contentType)
    on_transcoder_event  google.cloud.pubsub.topic.v1.messagePublished on the Transcoder's topic; data is
                         {"message": {"data": base64 of {"job": {"name", "state", "error": {code, message}}}}}
    sweep_stuck_jobs     google.cloud.pubsub.topic.v1.messagePublished on the sweeper topic (Cloud Scheduler);
                         the message itself carries nothing

A malformed event raises DropEvent (logged, acknowledged, never retried); see kstream/events.py for the rest.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from cloudevents.http import CloudEvent

from ..events import DropEvent
from ..settings import Settings
from .service import Outcome, SweepReport, service_for

__all__ = ["on_source_uploaded", "on_transcoder_event", "sweep_stuck_jobs"]

_GENERATION = re.compile(r"[1-9][0-9]{0,18}")  # a positive int64 in decimal, as Cloud Storage writes it
_STATES = {0: "PROCESSING_STATE_UNSPECIFIED", 1: "PENDING", 2: "RUNNING", 3: "SUCCEEDED", 4: "FAILED"}


def _data(event: CloudEvent) -> Mapping[str, Any]:
    data = event.data
    if isinstance(data, (bytes, bytearray, str)):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            raise DropEvent("the event data is not JSON") from None
    if not isinstance(data, Mapping):
        raise DropEvent(f"the event data is a {type(data).__name__}, expected a JSON object")
    return data


def _text(data: Mapping[str, Any], key: str, limit: int = 1024) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise DropEvent(f"the event data has no valid {key!r}")
    return value


def on_source_uploaded(event: CloudEvent, settings: Settings) -> Outcome:
    data = _data(event)
    bucket, name = _text(data, "bucket", 222), _text(data, "name")
    generation = data.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool):
        generation = str(generation)
    if not isinstance(generation, str) or not _GENERATION.fullmatch(generation) or int(generation) >= 2**63:
        raise DropEvent(f"the event data has no valid 'generation' (found {str(generation)[:40]!r})")
    return service_for(settings).source_finalized(bucket, name, int(generation))


def job_result(data: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(name, state, error message) of a Transcoder notice inside a Pub/Sub CloudEvent's data."""
    message = data.get("message")
    if not isinstance(message, Mapping):
        raise DropEvent("the event data has no Pub/Sub 'message'")
    raw = message.get("data")
    if not isinstance(raw, str) or not raw:
        raise DropEvent("the Pub/Sub message has no data")
    try:
        notice = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise DropEvent("the Pub/Sub message data is not base64-encoded JSON") from None
    job = notice.get("job") if isinstance(notice, Mapping) else None
    if not isinstance(job, Mapping):
        raise DropEvent("the message is not a Transcoder job notice ({\"job\": {...}})")
    name = _text(job, "name", 512)
    state = job.get("state")
    if isinstance(state, int) and not isinstance(state, bool):
        state = _STATES.get(state, str(state))
    if not isinstance(state, str) or not state:
        raise DropEvent("the job notice has no state")
    error = job.get("error")
    reason: str | None = None
    if isinstance(error, Mapping) and (error.get("message") or error.get("code")):
        reason = str(error.get("message") or f"error code {error.get('code')}")[:2000]
    return name, state.upper(), reason


def on_transcoder_event(event: CloudEvent, settings: Settings) -> Outcome:
    name, state, error = job_result(_data(event))
    return service_for(settings).job_event(name, state, error)


def sweep_stuck_jobs(event: CloudEvent, settings: Settings) -> SweepReport:
    return service_for(settings).sweep()
