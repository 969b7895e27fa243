"""What Terraform creates in the cloud, created on the emulators at start: buckets, topics, subscriptions."""

from __future__ import annotations

import json
import urllib.request

from .stack import StackConfig


def _request(method: str, url: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def create_topics(cfg: StackConfig, topics: list[str]) -> None:
    for topic in topics:
        url = f"http://127.0.0.1:{cfg.pubsub_port}/v1/projects/{cfg.project_id}/topics/{topic}"
        status, body = _request("PUT", url, {})
        if status not in (200, 409):
            raise RuntimeError(f"creating topic {topic}: HTTP {status} {body[:200]!r}")


def create_push_subscription(cfg: StackConfig, name: str, topic: str, endpoint: str) -> None:
    base = f"http://127.0.0.1:{cfg.pubsub_port}/v1/projects/{cfg.project_id}"
    status, body = _request("PUT", f"{base}/subscriptions/{name}", {
        "topic": f"projects/{cfg.project_id}/topics/{topic}",
        "pushConfig": {"pushEndpoint": endpoint},
        "ackDeadlineSeconds": 60,
    })
    if status == 409:
        return
    if status != 200:
        raise RuntimeError(f"creating subscription {name}: HTTP {status} {body[:200]!r}")


def create_buckets(cfg: StackConfig) -> None:
    for bucket in (cfg.upload_bucket, cfg.source_bucket, cfg.media_bucket):
        status, body = _request("POST", f"{cfg.gcs_url}/storage/v1/b?project={cfg.project_id}", {"name": bucket})
        if status not in (200, 409):
            raise RuntimeError(f"creating bucket {bucket}: HTTP {status} {body[:200]!r}")
