"""The event bridge: plays Eventarc for the event functions of the function list.

At start it creates one Pub/Sub push subscription per event function on the emulator, pointing back here:
- storage triggers subscribe to fake-gcs-server's notification topic; each message becomes a
  ``google.cloud.storage.object.v1.finalized`` CloudEvent (filtered by the trigger's bucket and event type);
- Pub/Sub triggers subscribe to their topic; each message becomes a ``google.cloud.pubsub.topic.v1.messagePublished``
  CloudEvent whose data is ``{"message": {...}, "subscription": ...}``.
The CloudEvent goes to the function in binary content mode. The function's status is the push answer: a non-2xx
leaves the message un-acked and the Pub/Sub emulator redelivers it, so retries behave as Eventarc's do.
A push that can never become an event (not a Pub/Sub push, or a storage notice whose data is not base64 JSON) is
acknowledged and logged with the reason, never redelivered forever.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, client_exceptions, web

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from kstream.registry import FunctionSpec, function_list  # noqa: E402

from . import provisioning  # noqa: E402
from .stack import GCS_NOTIFICATIONS_TOPIC, SWEEPER_TOPIC, StackConfig  # noqa: E402

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
STORAGE_DELETED = "google.cloud.storage.object.v1.deleted"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
GCS_EVENT_TYPES = {"OBJECT_FINALIZE": STORAGE_FINALIZED, "OBJECT_DELETE": STORAGE_DELETED}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bucket_for(cfg: StackConfig, role: str) -> str:
    return {"upload": cfg.upload_bucket, "source": cfg.source_bucket, "media": cfg.media_bucket}[role]


def topic_for(cfg: StackConfig, role: str) -> str:
    return {"transcoder_events": cfg.transcoder_topic, "sweeper": SWEEPER_TOPIC}[role]


class BadPush(Exception):
    """A push body that can never become an event: acknowledged (so Pub/Sub stops redelivering it) and logged."""


def push_message(push: Any) -> dict[str, Any]:
    """The ``message`` of a Pub/Sub push body ``{"message": {...}, "subscription": ...}``; BadPush otherwise."""
    message = push.get("message") if isinstance(push, dict) else None
    if not isinstance(message, dict):
        raise BadPush("not a Pub/Sub push body (expected a JSON object with a 'message' object)")
    attributes = message.get("attributes")
    if attributes is not None and not (isinstance(attributes, dict)
                                       and all(isinstance(v, str) for v in attributes.values())):
        raise BadPush("the message's attributes are not a map of strings")
    return message


def header_text(value: Any) -> str:
    """``value`` as a CloudEvent header value: text, its control characters (CR, LF, ...) percent-encoded."""
    return _CONTROL.sub(lambda found: f"%{ord(found.group()):02X}", str(value))


def storage_cloudevent(push: Any) -> tuple[dict[str, str], bytes] | None:
    """Binary-mode CloudEvent headers and body for a fake-gcs-server notification, or None if not an object event."""
    message = push_message(push)
    attributes = message.get("attributes") or {}
    event_type = GCS_EVENT_TYPES.get(attributes.get("eventType", ""))
    if event_type is None:
        return None
    try:
        obj = json.loads(base64.b64decode(message.get("data") or "e30=", validate=True))
    except (TypeError, ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise BadPush("the storage notice's data is not base64-encoded JSON") from None
    if not isinstance(obj, dict):
        raise BadPush(f"the storage notice's data is a JSON {type(obj).__name__}, not an object resource")
    bucket = attributes.get("bucketId") or obj.get("bucket")
    name = attributes.get("objectId") or obj.get("name")
    obj.setdefault("bucket", bucket)
    obj.setdefault("name", name)
    if "generation" in obj:
        obj["generation"] = str(obj["generation"])
    elif attributes.get("objectGeneration"):
        obj["generation"] = attributes["objectGeneration"]
    headers = {
        "ce-specversion": "1.0",
        "ce-id": header_text(message.get("messageId") or message.get("message_id")),
        "ce-source": header_text(f"//storage.googleapis.com/projects/_/buckets/{bucket}"),
        "ce-type": event_type,
        "ce-subject": header_text(f"objects/{name}"),
        "ce-time": header_text(message.get("publishTime") or datetime.now(UTC).isoformat()),
        "Content-Type": "application/json",
    }
    return headers, json.dumps(obj).encode()


def pubsub_cloudevent(push: Any, project: str, topic: str) -> tuple[dict[str, str], bytes]:
    message = dict(push_message(push))
    message_id = header_text(message.get("messageId") or message.get("message_id"))
    message.setdefault("messageId", message_id)
    message.setdefault("message_id", message_id)
    publish_time = header_text(message.get("publishTime") or datetime.now(UTC).isoformat())
    message.setdefault("publish_time", publish_time)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": message_id,
        "ce-source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}",
        "ce-type": PUBSUB_PUBLISHED,
        "ce-time": publish_time,
        "Content-Type": "application/json",
    }
    body = {"message": message, "subscription": push.get("subscription")}
    return headers, json.dumps(body).encode()


class Bridge:
    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.functions = {spec.name: spec for spec in function_list().event_functions}
        self.session: ClientSession | None = None

    def subscribe(self) -> None:
        for spec in self.functions.values():
            assert spec.event is not None
            topic = GCS_NOTIFICATIONS_TOPIC if spec.event.bucket else topic_for(self.cfg, spec.event.topic or "")
            provisioning.create_push_subscription(
                self.cfg, f"eventarc-{spec.name}", topic, f"{self.cfg.eventarc_url}/push/{spec.name}"
            )

    async def open(self, _app: web.Application) -> None:
        self.session = ClientSession(timeout=ClientTimeout(total=600))

    async def close(self, _app: web.Application) -> None:
        if self.session:
            await self.session.close()

    async def handle_push(self, request: web.Request) -> web.Response:
        spec = self.functions.get(request.match_info["name"])
        if spec is None or spec.event is None:
            return web.Response(status=404, text="no such event function")
        try:
            event = self._event_for(spec, await request.json())
        except (ValueError, RecursionError, BadPush) as exc:
            reason = str(exc) if isinstance(exc, BadPush) else "the push body is not JSON"
            print(f"{spec.name}: dropped a push that can never become an event: {reason}", flush=True)
            return web.Response(status=204, text=f"dropped: {reason}")
        if event is None:
            return web.Response(status=204, text="not for this trigger")
        headers, body = event
        assert self.session is not None
        try:
            async with self.session.post(f"{self.cfg.functions_url}/{spec.name}/", data=body,
                                         headers=headers) as response:
                text = await response.text()
                status = response.status
        except (TimeoutError, client_exceptions.ClientError) as exc:
            print(f"{spec.name}: delivery failed ({exc.__class__.__name__}); Pub/Sub will retry", flush=True)
            return web.Response(status=503, text="function unreachable")
        if 200 <= status < 300:
            print(f"{spec.name} <- {headers['ce-type']} {headers.get('ce-subject', '')} ({status})", flush=True)
            return web.Response(status=204)
        print(f"{spec.name} <- {headers['ce-type']} {headers.get('ce-subject', '')} failed ({status}): "
              f"{text[:200]}; will retry", flush=True)
        return web.Response(status=500, text="function failed; retry")

    def _event_for(self, spec: FunctionSpec, push: Any) -> tuple[dict[str, str], bytes] | None:
        assert spec.event is not None
        if spec.event.bucket:
            event = storage_cloudevent(push)
            if event is None or event[0]["ce-type"] != spec.event.type:
                return None
            if event[0]["ce-source"].rsplit("/", 1)[1] != bucket_for(self.cfg, spec.event.bucket):
                return None
            return event
        return pubsub_cloudevent(push, self.cfg.project_id, topic_for(self.cfg, spec.event.topic or ""))

    def app(self) -> web.Application:
        app = web.Application()
        app.on_startup.append(self.open)
        app.on_cleanup.append(self.close)
        app.router.add_get("/healthz", lambda _r: web.Response(text="ok"))
        app.router.add_post("/push/{name}", self.handle_push)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description="kstream's local Eventarc: Pub/Sub pushes -> CloudEvents")
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    cfg = StackConfig.read(args.state_dir)
    bridge = Bridge(cfg)
    bridge.subscribe()
    print(f"event bridge on {cfg.eventarc_url} for {', '.join(bridge.functions)}", flush=True)
    web.run_app(bridge.app(), host="127.0.0.1", port=cfg.eventarc_port, print=None, access_log=None)


if __name__ == "__main__":
    main()
