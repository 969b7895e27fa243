"""Job events in any order converge; a lost event is reconciled and a stuck job is failed by the sweep.

The service runs in this process against the local cloud's emulators and Transcoder, with a job topic nobody
listens to: every Transcoder notice is "lost", so the test alone decides which notices arrive and when. Its source
bucket is the upload bucket, whose finalize events the event bridge does not route to on-source-uploaded."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.cloud import firestore, pubsub_v1
from kstream.adapters.transcoder import transcoder
from kstream.catalog import videos as catalog
from kstream.catalog.repository import CatalogRepository
from kstream.errors import Unavailable
from kstream.settings import Settings
from kstream.transcode import callbacks
from kstream.transcode.jobs import Job, JobRepository, Source
from kstream.transcode.service import TranscodeService

from local_emulator.stack import SWEEPER_TOPIC, StackConfig
from tests.emulator import transcode_support as ts

T = TypeVar("T")

TIMEOUT = 1  # seconds: the sweep's deadline for the jobs made here


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sweep-media")


@pytest.fixture(scope="module")
def settings(local_cloud: StackConfig) -> Settings:
    return ts.settings_for(local_cloud, source_bucket=local_cloud.upload_bucket,
                           transcoder_topic=f"nobody-listens-{uuid.uuid4().hex[:8]}",
                           transcode_timeout_seconds=TIMEOUT)


def _later(seconds: float = 30) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _started(cfg: StackConfig, settings: Settings, service: TranscodeService, media: Path) -> tuple[str, str, str]:
    """A job for a new video, run by the Transcoder to SUCCEEDED, whose notice never arrives: (video, job, name)."""
    video_id = uuid.uuid4().hex
    source = ts.make_source(media, "small.mp4")
    name = f"sources/{video_id}/episode.mp4"
    blob = ts.gcs().bucket(settings.source_bucket).blob(name)
    blob.metadata = {"videoId": video_id, "uploaderId": "uploader-test", "title": "Sweep", "episode": "2",
                     "series": f"Sweep {video_id}", "transcodingJobId": f"job-{video_id}"}
    blob.upload_from_filename(str(source), content_type="video/mp4")
    outcome = service.source_finalized(settings.source_bucket, name, int(blob.generation))
    assert outcome.action == "started", outcome
    job_name = outcome.details["transcoderJob"]
    adapter = transcoder(settings)
    ts.wait_for(lambda: adapter.get_job(job_name).state == "SUCCEEDED", what="the transcoder")
    return video_id, f"job-{video_id}", job_name


def test_an_event_naming_a_generation_storage_never_had_is_dropped_not_retried(
        local_cloud: StackConfig, settings: Settings, media: Path) -> None:
    service = ts.local_service(settings)
    video_id = uuid.uuid4().hex
    name = f"sources/{video_id}/episode.mp4"
    blob = ts.gcs().bucket(settings.source_bucket).blob(name)
    blob.metadata = {"videoId": video_id}
    blob.upload_from_filename(str(ts.make_source(media, "small.mp4")), content_type="video/mp4")
    outcome = service.source_finalized(settings.source_bucket, name, int(blob.generation) + 1)
    assert outcome.action == "ignored" and "no such generation was ever written" in (outcome.reason or ""), outcome
    assert ts.job_status(local_cloud, f"job-{video_id}") == {}  # no job was claimed or created


def test_a_failure_notice_first_wins_over_a_later_success(local_cloud: StackConfig, settings: Settings,
                                                           media: Path) -> None:
    service = ts.local_service(settings)
    video_id, job_id, job_name = _started(local_cloud, settings, service, media)
    assert ts.video_as_admin(local_cloud, video_id)["status"] == "processing"
    assert service.job_event(job_name, "FAILED", "Input file could not be read").action == "failed"
    for state in ("SUCCEEDED", "RUNNING", "FAILED"):  # late, duplicated, out of order
        assert service.job_event(job_name, state, None).action == "duplicate"
    status = ts.job_status(local_cloud, job_id)
    assert status["status"] == "failed" and status["error"] == "TRANSCODE_FAILED: Input file could not be read"
    assert ts.video_as_admin(local_cloud, video_id)["status"] == "failed"


def test_the_sweep_reconciles_a_lost_success_notice_and_later_notices_change_nothing(
        local_cloud: StackConfig, settings: Settings, media: Path) -> None:
    video_id, job_id, job_name = _started(local_cloud, settings, ts.local_service(settings), media)
    assert ts.job_status(local_cloud, job_id)["status"] == "processing"  # the API says SUCCEEDED; not recorded yet
    report = ts.local_service(settings, now=_later).sweep()
    assert job_id in report.reconciled and job_id not in report.timed_out
    status = ts.job_status(local_cloud, job_id)
    assert status["status"] == "completed" and status["outputFiles"]["hls"]["segments"]
    assert ts.video_as_admin(local_cloud, video_id)["status"] == "ready"
    late = ts.local_service(settings)
    assert late.job_event(job_name, "FAILED", "too late").action == "duplicate"
    assert ts.job_status(local_cloud, job_id) == status
    assert job_id not in ts.local_service(settings, now=_later).sweep().reconciled  # nothing left to do


class _Hook:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if callbacks.verify(callbacks.LOCAL_DEVELOPMENT_SECRET, body,
                                    self.headers.get(callbacks.SIGNATURE_HEADER)):
                    hook.bodies.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/done"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[_Hook]:
    made = _Hook()
    yield made
    made.server.shutdown()
    made.server.server_close()


def _stuck(settings: Settings, *, name: str | None = None, callback_url: str | None = None) -> Job:
    """A job for a new video (in the catalog, processing) that never finishes: claimed but never created (its
    creator crashed), or created with a Transcoder job the API no longer knows."""
    video_id = uuid.uuid4().hex
    db = firestore.Client(project=settings.project_id)
    catalog.upsert_video(video_id=video_id, title="Stuck", series=f"Stuck {video_id}", episode=1,
                         uploader_id="uploader-test", uploader_username="uploader", status="processing",
                         repo=CatalogRepository(db))
    jobs = JobRepository(db)
    now = datetime.now(UTC)
    job = Job(id=f"job-{uuid.uuid4().hex}", video_id=video_id, origin="api", provider="local",
              source=Source(settings.source_bucket, f"sources/{video_id}/a.mp4", 1, 10), callback_url=callback_url,
              deadline_at=now + timedelta(seconds=TIMEOUT))
    claim = jobs.claim(job, now=now, lease_seconds=0.5, check_stale=False)
    if name:
        jobs.record_created(job.id, name, lease_id=claim.lease_id)
    return job


def test_the_sweep_fails_stuck_jobs_and_their_videos(local_cloud: StackConfig, settings: Settings,
                                                     hook: _Hook) -> None:
    never_created = _stuck(settings, callback_url=hook.url)
    lost = _stuck(settings, name=f"projects/{settings.project_id}/locations/{settings.transcoder_location}/jobs/"
                                 f"{uuid.uuid4()}")
    assert ts.local_service(settings).sweep().timed_out == []  # not past the deadline yet
    report = ts.local_service(settings, now=_later).sweep()
    assert {never_created.id, lost.id} <= set(report.timed_out)
    for job in (never_created, lost):
        status = ts.job_status(local_cloud, job.id)
        assert status["status"] == "failed"
        assert status["error"].startswith("TRANSCODE_FAILED: timed out: not finished 1 s after it started")
        video = ts.video_as_admin(local_cloud, job.video_id)
        assert video["status"] == "failed", video  # never left spinning
    assert len(hook.bodies) == 1 and b'"status":"failed"' in hook.bodies[0]
    assert ts.job_doc(never_created.id)["callbackState"] == "delivered"
    again = ts.local_service(settings, now=_later).sweep()
    assert never_created.id not in again.timed_out and lost.id not in again.timed_out
    assert len(hook.bodies) == 1


def test_a_callback_whose_sender_vanished_is_sent_by_the_sweep(local_cloud: StackConfig, settings: Settings,
                                                               hook: _Hook) -> None:
    job = _stuck(settings, callback_url=hook.url)
    jobs = JobRepository(firestore.Client(project=settings.project_id))
    finished = jobs.finish(job.id, "failed", now=datetime.now(UTC), error="boom", callback_lease_seconds=0.5)
    assert finished is not None and finished.send_callback  # ... and then the sender crashed before sending
    report = ts.local_service(settings, now=_later).sweep()
    assert job.id in report.callbacks_resent
    assert len(hook.bodies) == 1 and ts.job_doc(job.id)["callbackState"] == "delivered"
    assert job.id not in ts.local_service(settings, now=_later).sweep().callbacks_resent


def test_the_scheduled_sweeper_function_runs_on_its_topic(local_cloud: StackConfig, settings: Settings) -> None:
    """The deployed wiring: a message on the sweeper topic -> event bridge -> sweep-stuck-jobs (6 h timeout there,
    so only a job whose deadline has really passed is touched)."""
    job = _stuck(settings)
    db = firestore.Client(project=settings.project_id)
    db.collection("transcodeJobs").document(job.id).update({"deadlineAt": datetime.now(UTC) - timedelta(hours=7)})
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(publisher.topic_path(local_cloud.project_id, SWEEPER_TOPIC), b"{}").result(timeout=30)
    ts.wait_for(lambda: ts.job_doc(job.id).get("state") == "failed", what="the sweeper function")
    assert ts.video_as_admin(local_cloud, job.video_id)["status"] == "failed"
    assert "timed out" in ts.job_doc(job.id)["error"]


def test_concurrent_claims_and_finishes_have_exactly_one_winner(local_cloud: StackConfig,
                                                                 settings: Settings) -> None:
    """The two rules everything else rests on, raced: one claim per source generation, one final state (and so
    one callback) per job."""
    video_id = uuid.uuid4().hex
    source = Source(settings.source_bucket, f"sources/{video_id}/a.mp4", 42, 10)

    def retried(call: Callable[[], T]) -> T:
        """As an event is redelivered: a transaction that lost to the others under load (the emulator's
        "Transaction lock timeout") is Unavailable, "try again", never a second winner."""
        for attempt in range(6):
            try:
                return call()
            except Unavailable:
                if attempt == 5:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def claim(_: int) -> str:
        jobs = JobRepository(firestore.Client(project=settings.project_id))
        job = Job(id=f"job-{video_id}", video_id=video_id, origin="upload", provider="local", source=source,
                  callback_url="https://hooks.example.com/t")
        return retried(lambda: jobs.claim(job, now=datetime.now(UTC), lease_seconds=60, check_stale=True).kind)

    def finish(state: str) -> bool:
        jobs = JobRepository(firestore.Client(project=settings.project_id))
        done = retried(lambda: jobs.finish(f"job-{video_id}", state, now=datetime.now(UTC),  # type: ignore[arg-type]
                                           callback_lease_seconds=60, error="boom" if state == "failed" else None))
        assert done is not None
        return done.send_callback

    with ThreadPoolExecutor(4) as pool:
        kinds = list(pool.map(claim, range(4)))
    assert sorted(kinds) == ["busy", "busy", "busy", "claimed"]
    with ThreadPoolExecutor(4) as pool:
        callbacks_sent = list(pool.map(finish, ["completed", "failed", "completed", "failed"]))
    assert callbacks_sent.count(True) == 1
    final = ts.job_doc(f"job-{video_id}")
    assert final["state"] in ("completed", "failed") and final["callbackState"] == "sending"
    assert "deadlineAt" not in final
