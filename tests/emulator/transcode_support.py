"""Shared by the transcoding tests against the local cloud: small generated sources, source objects, CloudEvents
posted straight to the functions host (as Eventarc would), job status polling, and an in-process service wired to
the same emulators (for tests that must control which job events arrive, and when)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage
from kstream.adapters.transcoder import Transcoder, transcoder
from kstream.catalog.repository import CatalogRepository
from kstream.settings import Settings
from kstream.transcode.jobs import JobRepository
from kstream.transcode.service import JOB_LABEL, CatalogBridge, TranscodeService

from local_emulator.stack import StackConfig
from tests.helpers import api_as

SECONDS = 6  # the Transcoder API (and the local one) refuse inputs under 5 s


def make_source(directory: Path, name: str, *, size: str = "320x180", seconds: float = SECONDS, audio: bool = True,
                faststart: bool = True) -> Path:
    """A short H.264 (+ AAC) MP4 from ffmpeg's test sources."""
    path = directory / name
    if path.exists():
        return path
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
            f"testsrc2=size={size}:rate=24:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}", "-c:a", "aac",
                 "-b:a", "64k"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "48"]
    if faststart:
        args += ["-movflags", "+faststart"]
    subprocess.run([*args, "-shortest", str(path)], check=True, timeout=60)
    return path


def truncated_copy(source: Path, target: Path, keep: float = 0.5) -> Path:
    """The first ``keep`` of a moov-at-end MP4: it looks like an MP4 but its header is gone (a cut upload)."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


def gcs() -> storage.Client:
    return storage.Client(project="demo-kstream", credentials=AnonymousCredentials())


def put_source(cfg: StackConfig, video_id: str, path: Path, *, metadata: dict[str, str] | None = None,
               filename: str = "episode.mp4") -> tuple[str, int]:
    """Write ``path`` as ``sources/<videoId>/<filename>`` with upload-like metadata; (object name, generation)."""
    name = f"sources/{video_id}/{filename}"
    blob = gcs().bucket(cfg.source_bucket).blob(name)
    blob.metadata = {
        "videoId": video_id, "uploaderId": "uploader-test", "uploadId": uuid.uuid4().hex,
        "transcodingJobId": f"job-{video_id}", "title": f"Episode {video_id[:6]}", "series": f"Series {video_id}",
        "episode": "1", "language": "ko", "fileSize": str(path.stat().st_size), **(metadata or {}),
    }
    blob.upload_from_filename(str(path), content_type="video/mp4")
    return name, int(blob.generation)


def post_event(cfg: StackConfig, function: str, event_type: str, data: dict[str, Any],
               subject: str | None = None) -> requests.Response:
    """A binary-mode CloudEvent straight to one function of the functions host."""
    headers = {
        "ce-specversion": "1.0", "ce-id": uuid.uuid4().hex, "ce-type": event_type,
        "ce-source": f"//test/{function}", "ce-time": datetime.now(UTC).isoformat(),
        "Content-Type": "application/json",
    }
    if subject:
        headers["ce-subject"] = subject
    return requests.post(f"{cfg.functions_url}/{function}/", data=json.dumps(data), headers=headers, timeout=120)


def finalize_event(cfg: StackConfig, name: str, generation: int, bucket: str | None = None) -> requests.Response:
    bucket = bucket or cfg.source_bucket
    return post_event(cfg, "on-source-uploaded", "google.cloud.storage.object.v1.finalized",
                      {"bucket": bucket, "name": name, "generation": str(generation), "metageneration": "1",
                       "contentType": "video/mp4"}, subject=f"objects/{name}")


def notice_data(job_name: str, state: str, error: str | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {"name": job_name, "state": state}
    if error:
        job["error"] = {"code": 3, "message": error}
    return {"message": {"data": base64.b64encode(json.dumps({"job": job}).encode()).decode(),
                        "messageId": uuid.uuid4().hex, "publishTime": datetime.now(UTC).isoformat()},
            "subscription": "projects/demo-kstream/subscriptions/test"}


def notice_event(cfg: StackConfig, job_name: str, state: str, error: str | None = None) -> requests.Response:
    return post_event(cfg, "on-transcoder-event", "google.cloud.pubsub.topic.v1.messagePublished",
                      notice_data(job_name, state, error))


def wait_for(predicate: Callable[[], Any], timeout: float = 90.0, interval: float = 0.25, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(interval)


def job_status(cfg: StackConfig, job_id: str) -> dict[str, Any]:
    response = api_as(cfg, "service").get(f"/api/transcode/status/{job_id}")
    assert response.status_code in (200, 404), response.text
    return dict(response.json()) if response.status_code == 200 else {}


def wait_final(cfg: StackConfig, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """The job's status once completed or failed (through the gateway, as a service caller)."""
    return dict(wait_for(lambda: (lambda s: s if s.get("status") in ("completed", "failed") else None)(
        job_status(cfg, job_id)), timeout=timeout, what=f"job {job_id} to finish"))


def video_as_admin(cfg: StackConfig, video_id: str) -> dict[str, Any]:
    response = api_as(cfg, "admin").get(f"/api/videos/{video_id}")
    assert response.status_code in (200, 404), response.text
    return dict(response.json()) if response.status_code == 200 else {}


def job_doc(job_id: str) -> dict[str, Any]:
    snapshot = firestore.Client(project="demo-kstream").collection("transcodeJobs").document(job_id).get()
    return dict(snapshot.to_dict() or {}) if snapshot.exists else {}


def settings_for(cfg: StackConfig, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "project_id": cfg.project_id, "upload_bucket": cfg.upload_bucket, "source_bucket": cfg.source_bucket,
        "media_bucket": cfg.media_bucket, "transcoder_endpoint": cfg.transcoder_url,
        "transcoder_topic": cfg.transcoder_topic, "cdn_base_url": f"{cfg.gateway_url}/media",
    }
    values.update(overrides)
    return Settings(**values)


def local_service(settings: Settings, *, now: Callable[[], datetime] | None = None,
                  deliver: Callable[..., Any] | None = None) -> TranscodeService:
    """The transcode service in this process, on the emulators the fixture points the client libraries at."""
    db = firestore.Client(project=settings.project_id)
    extra: dict[str, Any] = {}
    if now is not None:
        extra["now"] = now
    if deliver is not None:
        extra["deliver"] = deliver
    return TranscodeService(settings, JobRepository(db), gcs(), transcoder(settings),
                            CatalogBridge(lambda: CatalogRepository(db)), **extra)


def transcoder_jobs_for(settings: Settings, job_id: str) -> list[Any]:
    """Every Transcoder job (local emulator) labelled with our job id."""
    adapter: Transcoder = transcoder(settings)
    request = {"parent": adapter.parent, "filter": f'labels.{JOB_LABEL} = "{job_id}"'}
    return list(adapter.client.list_jobs(request=request))


def read_media(cfg: StackConfig, name: str) -> bytes:
    return bytes(gcs().bucket(cfg.media_bucket).blob(name).download_as_bytes())
