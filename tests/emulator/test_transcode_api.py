"""POST /api/transcode/start and GET /api/transcode/status/:jobId as the spec has them (service identities only),
the signed completion callback (a local receiver verifies it; it is called once whatever the duplicates), and
TRANSCODE_PROVIDER_UNAVAILABLE when the Transcoder API cannot be reached."""

from __future__ import annotations

import json
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask
import pytest
import requests
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from kstream import http as khttp
from kstream.adapters.transcoder import transcoder
from kstream.settings import Settings
from kstream.transcode import callbacks
from kstream.transcode.jobs import Job, JobRepository, Source

from local_emulator.stack import StackConfig
from tests.emulator import transcode_support as ts
from tests.helpers import LocalHttpServer, QuietHandler, api_as, assert_envelope, token_for


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api-media")


class Receiver:
    """A callback endpoint on loopback: records every POST; answers from ``script`` (then 200)."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.script = list(script or [])
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.calls.append({"headers": dict(self.headers), "body": body})
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = LocalHttpServer(Handler)
        self.url = f"{self.server.origin}/hooks/transcoded"

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def receiver() -> Any:
    made: list[Receiver] = []

    def make(script: list[int] | None = None) -> Receiver:
        made.append(Receiver(script))
        return made[-1]

    yield make
    for one in made:
        one.close()


def _body(video_id: str, name: str, cfg: StackConfig, **extra: Any) -> dict[str, Any]:
    return {"videoId": video_id, "sourcePath": f"gs://{cfg.source_bucket}/{name}",
            "outputFormats": {"hls": {"resolutions": ["360p", "720p"], "segmentDuration": 6},
                              "dash": {"resolutions": ["360p"], "segmentDuration": 6}}, **extra}


def _start(cfg: StackConfig, body: dict[str, Any]) -> Any:
    return api_as(cfg, "service").post("/api/transcode/start", json=body)


def test_start_then_status_until_completed(local_cloud: StackConfig, media: Path) -> None:
    video_id = uuid.uuid4().hex
    source = ts.make_source(media, "landscape.mp4", size="640x360")
    name, generation = ts.put_source(local_cloud, video_id, source, filename="master.mp4")
    ts.wait_final(local_cloud, f"job-{video_id}")  # the upload trigger's own job for this source, done first
    response = _start(local_cloud, _body(video_id, name, local_cloud, priority="high"))
    assert response.status_code == 200, response.text
    started = response.json()
    assert set(started) == {"jobId", "status", "estimatedDuration", "provider"}
    assert started["status"] == "queued" and started["provider"] == "local"
    assert started["jobId"] != f"job-{video_id}" and started["estimatedDuration"] >= 1
    early = ts.job_status(local_cloud, started["jobId"])
    if early["status"] != "completed":  # an unfinished job says when it should end (progress-based once running)
        eta = datetime.fromisoformat(early["estimatedCompletion"].replace("Z", "+00:00"))
        assert datetime.now(UTC) - timedelta(seconds=5) <= eta <= datetime.now(UTC) + timedelta(minutes=30)
    status = ts.wait_final(local_cloud, started["jobId"])
    assert "estimatedCompletion" not in status
    assert status["status"] == "completed" and status["progress"] == 100, status
    files = status["outputFiles"]
    base = f"{local_cloud.gateway_url}/media/videos/{video_id}/"
    assert files["hls"]["playlist"] == base + "manifest.m3u8" and files["dash"]["manifest"] == base + "manifest.mpd"
    assert any(s.startswith(base + "video-360p") for s in files["hls"]["segments"])
    assert not any("720p" in s for s in files["hls"]["segments"])  # no upscaling of a 360p source
    doc = ts.job_doc(started["jobId"])
    assert doc["priority"] == "high" and doc["origin"] == "api"
    created = requests.get(f"{local_cloud.transcoder_url}/v1/{doc['transcoderJobName']}", timeout=10).json()
    assert created["mode"] == "PROCESSING_MODE_INTERACTIVE"  # high: interactive
    assert doc["source"]["generation"] == str(generation)
    assert doc["plan"]["segmentSeconds"] == 6 and doc["plan"]["formats"] == ["dash", "hls"]
    video = ts.video_as_admin(local_cloud, video_id)
    assert video["status"] == "ready" and video["availableQualities"] == ["360p"]


def test_the_callback_is_signed_and_sent_once_despite_duplicate_events(local_cloud: StackConfig, media: Path,
                                                                       receiver: Any) -> None:
    hook = receiver([503])  # the receiver fails once: the second attempt is delivered
    video_id = uuid.uuid4().hex
    name, _ = ts.put_source(local_cloud, video_id, ts.make_source(media, "small.mp4"), filename="cb.mp4")
    ts.wait_final(local_cloud, f"job-{video_id}")
    response = _start(local_cloud, _body(video_id, name, local_cloud, callbackUrl=hook.url))
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]
    job_name = ts.wait_for(lambda: ts.job_doc(job_id).get("transcoderJobName"), what="the transcoder job")
    adapter = transcoder(ts.settings_for(local_cloud))
    ts.wait_for(lambda: adapter.get_job(job_name).state == "SUCCEEDED", what="the transcoder to finish")
    with ThreadPoolExecutor(4) as pool:  # duplicates racing the real notice
        answers = list(pool.map(lambda _: ts.notice_event(local_cloud, job_name, "SUCCEEDED"), range(4)))
    assert all(a.status_code == 200 for a in answers)
    assert ts.wait_final(local_cloud, job_id)["status"] == "completed"
    ts.wait_for(lambda: ts.job_doc(job_id).get("callbackState") == "delivered", what="the callback")
    ts.notice_event(local_cloud, job_name, "SUCCEEDED")  # and a late one
    assert len(hook.calls) == 2  # one callback: the first attempt answered 503, the retry 200
    first, second = hook.calls
    assert first["body"] == second["body"]
    for call in hook.calls:
        signature = call["headers"][callbacks.SIGNATURE_HEADER]
        assert callbacks.verify(callbacks.LOCAL_DEVELOPMENT_SECRET, call["body"], signature)
        assert not callbacks.verify("another-secret", call["body"], signature)
        assert call["headers"][callbacks.DELIVERY_HEADER] == job_id
    payload = json.loads(second["body"])
    assert payload["jobId"] == job_id and payload["videoId"] == video_id and payload["status"] == "completed"
    assert payload["completedAt"].endswith("Z") and "error" not in payload
    assert payload["outputFiles"]["hls"]["playlist"].endswith(f"/videos/{video_id}/manifest.m3u8")
    assert ts.job_doc(job_id)["callbackAttempts"] == 2


def test_a_corrupt_source_answers_failed_and_calls_back_with_the_reason(local_cloud: StackConfig, media: Path,
                                                                        receiver: Any) -> None:
    hook = receiver()
    video_id = uuid.uuid4().hex
    whole = ts.make_source(media, "moov-at-end.mp4", faststart=False)
    name, _ = ts.put_source(local_cloud, video_id, ts.truncated_copy(whole, media / f"cut-{video_id}.mp4"))
    response = _start(local_cloud, _body(video_id, name, local_cloud, callbackUrl=hook.url))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "failed" and response.json()["estimatedDuration"] == 0
    status = ts.job_status(local_cloud, response.json()["jobId"])
    assert status["status"] == "failed" and status["error"].startswith("TRANSCODE_FAILED: ")
    assert len(hook.calls) == 1
    payload = json.loads(hook.calls[0]["body"])
    assert payload["status"] == "failed" and payload["error"] == status["error"] and "outputFiles" not in payload


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sourcePath": "gs://some-other-bucket/a.mp4"}, "sourcePath"),
        ({"sourcePath": "/local/file.mp4"}, "sourcePath"),
        ({"sourcePath": "gs://{source}/sources/none/missing.mp4"}, "sourcePath"),
        ({"callbackUrl": "http://hooks.example.com/t"}, "callbackUrl"),
        ({"callbackUrl": "not a url"}, "callbackUrl"),
        ({"outputFormats": {"hls": {"resolutions": ["360p"], "segmentDuration": 0.3}}}, "segmentDuration"),
        ({"outputFormats": {"hls": {"resolutions": ["360p"], "segmentDuration": 6},
                            "dash": {"resolutions": ["360p"], "segmentDuration": 4}}}, "segmentDuration"),
        ({"outputFormats": {"hls": {"resolutions": ["4k"], "segmentDuration": 6}}}, "resolutions"),
        ({"priority": "urgent"}, "priority"),
        ({"videoId": "../etc"}, "videoId"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_start_requests_are_400(local_cloud: StackConfig, change: dict[str, Any], field: str) -> None:
    body = _body("v-" + uuid.uuid4().hex, "sources/x/a.mp4", local_cloud)
    body.update({k: v.replace("{source}", local_cloud.source_bucket) if isinstance(v, str) else v
                 for k, v in change.items()})
    error = assert_envelope(_start(local_cloud, body), 400, "REQUEST_INVALID")
    assert field in json.dumps(error)


@pytest.mark.parametrize(("role", "status", "code"), [(None, 401, "AUTH_INVALID_TOKEN"),
                                                      ("uploader", 403, "AUTH_INSUFFICIENT_PERMISSIONS"),
                                                      ("admin", 403, "AUTH_INSUFFICIENT_PERMISSIONS")])
def test_only_service_identities_may_call(local_cloud: StackConfig, role: str | None, status: int, code: str) -> None:
    client = api_as(local_cloud, role)
    body = _body("v1", "sources/v1/a.mp4", local_cloud)
    assert_envelope(client.post("/api/transcode/start", json=body), status, code)
    assert_envelope(client.get("/api/transcode/status/job-x"), status, code)


@pytest.mark.parametrize("job_id", ["job-" + "0" * 32, "no-such-job", "JOB-UPPER", "a" * 200])
def test_an_unknown_job_is_404(local_cloud: StackConfig, job_id: str) -> None:
    response = api_as(local_cloud, "service").get(f"/api/v1/transcode/status/{job_id}")
    assert_envelope(response, 404, "TRANSCODE_JOB_NOT_FOUND")


# -- the Transcoder API out of reach -------------------------------------------------------------------------
def _settings_with_dead_transcoder(cfg: StackConfig) -> Settings:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    values = {k[len("KSTREAM_"):].lower(): v for k, v in cfg.function_env().items() if k.startswith("KSTREAM_")}
    values["transcoder_endpoint"] = f"http://127.0.0.1:{dead}"
    return Settings(**values)


def _in_process(name: str, handler: str, settings: Settings) -> Any:
    entry = khttp.http_function(name, handler, settings=lambda: settings)
    app = flask.Flask(f"unit-{name}")
    app.add_url_rule("/<path:path>", "entry", lambda path: entry(flask.request), methods=["GET", "POST"])
    return app.test_client()


def test_an_unreachable_transcoder_is_503_and_leaves_nothing_behind(local_cloud: StackConfig, media: Path) -> None:
    settings = _settings_with_dead_transcoder(local_cloud)
    video_id = uuid.uuid4().hex
    source = ts.make_source(media, "small.mp4")
    name, _ = ts.put_source(local_cloud, video_id, source, filename="later.mp4",
                             metadata={"videoId": f"other-{video_id}"})
    headers = {"Authorization": f"Bearer {token_for(local_cloud, 'service')}"}
    client = _in_process("transcode-start", "kstream.api.transcode:start", settings)
    response = client.post("/api/transcode/start", json=_body(video_id, name, local_cloud), headers=headers)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "TRANSCODE_PROVIDER_UNAVAILABLE"
    db = firestore.Client(project=local_cloud.project_id)
    left = db.collection("transcodeJobs").where(filter=FieldFilter("videoId", "==", video_id)).get()
    assert left == [] and not db.collection("transcodeVideos").document(video_id).get().exists

    # A running job's status needs the API: 503 too (a finished one is answered from the database).
    jobs = JobRepository(db)
    job = Job(id=f"job-{uuid.uuid4().hex}", video_id=video_id, origin="api", provider="local",
              source=Source(local_cloud.source_bucket, name, 1, 10))
    claim = jobs.claim(job, now=job.created_at, lease_seconds=60, check_stale=False)
    jobs.record_created(job.id, "projects/demo-kstream/locations/asia-northeast3/jobs/gone", lease_id=claim.lease_id)
    status = _in_process("transcode-status", "kstream.api.transcode:status", settings)
    answer = status.get(f"/api/transcode/status/{job.id}", headers=headers)
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "TRANSCODE_PROVIDER_UNAVAILABLE"
