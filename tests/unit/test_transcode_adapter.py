"""The Transcoder adapter: which failures mean "provider unavailable" (retry), "job rejected" (record a failure) or
"no such job", with a stand-in for the official client's methods and the real client against a closed port."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud.video import transcoder_v1
from kstream.adapters.transcoder import JobNotFound, JobRejected, Transcoder, transcoder
from kstream.errors import ErrorCode, Unavailable
from kstream.settings import Settings
from kstream.transcode.ladder import build_job_config
from kstream.transcode.media_probe import SourceInfo

SOURCE = SourceInfo(width=640, height=360, duration_seconds=10.0, has_audio=True, has_video=True, container="mp4")
CONFIG = build_job_config(SOURCE, input_uri="gs://src/sources/v/a.mp4", output_uri="gs://media/videos/v/",
                          pubsub_topic="projects/p/topics/t")


class _Client:
    def __init__(self, error: BaseException | None = None, job: Any = None) -> None:
        self.error = error
        self.job = job
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, method: str, **kwargs: Any) -> Any:
        self.calls.append((method, kwargs))
        if self.error is not None:
            raise self.error
        return self.job

    def create_job(self, **kwargs: Any) -> Any:
        return self._answer("create_job", **kwargs)

    def get_job(self, **kwargs: Any) -> Any:
        return self._answer("get_job", **kwargs)

    def delete_job(self, **kwargs: Any) -> Any:
        return self._answer("delete_job", **kwargs)

    def list_jobs(self, **kwargs: Any) -> Any:
        return self._answer("list_jobs", **kwargs)


@pytest.mark.parametrize(
    "error",
    [gexc.ServiceUnavailable("down"), gexc.DeadlineExceeded("slow"), gexc.PermissionDenied("no role"),
     gexc.TooManyRequests("quota"), requests.ConnectionError("refused"), gexc.RetryError("gave up", None)],
)
def test_unreachable_or_refusing_api_is_provider_unavailable(error: BaseException) -> None:
    adapter = Transcoder(_Client(error), "p", "l")
    for call in (lambda: adapter.create_job(CONFIG, {"kstream-job-id": "job-1"}),
                 lambda: adapter.get_job("projects/p/locations/l/jobs/1")):
        with pytest.raises(Unavailable) as raised:
            call()
        assert raised.value.code == ErrorCode.TRANSCODE_PROVIDER_UNAVAILABLE and raised.value.status == 503


@pytest.mark.parametrize("error", [gexc.InvalidArgument("bad config"), gexc.FailedPrecondition("no input")])
def test_a_refused_job_is_rejected_not_retried(error: BaseException) -> None:
    with pytest.raises(JobRejected, match=r"bad config|no input"):
        Transcoder(_Client(error), "p", "l").create_job(CONFIG, {})


def test_a_config_the_proto_refuses_is_rejected_before_any_call() -> None:
    client = _Client()
    with pytest.raises(JobRejected, match="not a valid JobConfig"):
        Transcoder(client, "p", "l").create_job({"noSuchField": 1}, {})
    assert client.calls == []


def test_create_sends_the_config_and_labels_to_the_location() -> None:
    job = transcoder_v1.Job(name="projects/p/locations/l/jobs/abc", state=transcoder_v1.Job.ProcessingState.PENDING,
                            labels={"kstream-job-id": "job-1"})
    client = _Client(job=job)
    view = Transcoder(client, "p", "l").create_job(CONFIG, {"kstream-job-id": "job-1"})
    assert (view.name, view.state, view.labels) == ("projects/p/locations/l/jobs/abc", "PENDING",
                                                   {"kstream-job-id": "job-1"})
    method, kwargs = client.calls[0]
    assert method == "create_job" and kwargs["parent"] == "projects/p/locations/l"
    sent = kwargs["job"]
    assert sent.labels["kstream-job-id"] == "job-1"
    assert sent.config.pubsub_destination.topic == "projects/p/topics/t"
    assert [m.file_name for m in sent.config.manifests] == ["manifest.m3u8", "manifest.mpd"]


@pytest.mark.parametrize(("mode", "priority", "sent_mode", "sent_priority"), [
    ("interactive", 0, "PROCESSING_MODE_INTERACTIVE", 0),
    ("batch", 10, "PROCESSING_MODE_BATCH", 10),
    ("interactive", 7, "PROCESSING_MODE_INTERACTIVE", 0),  # a batch priority means nothing to an interactive job
])
def test_create_sends_the_job_mode_and_batch_priority(mode: str, priority: int, sent_mode: str,
                                                      sent_priority: int) -> None:
    client = _Client(job=transcoder_v1.Job(name="projects/p/locations/l/jobs/abc"))
    Transcoder(client, "p", "l").create_job(CONFIG, {}, mode=mode, batch_priority=priority)
    sent = client.calls[0][1]["job"]
    assert (sent.mode.name, sent.batch_mode_priority) == (sent_mode, sent_priority)


def test_unknown_jobs_and_failures_are_reported() -> None:
    with pytest.raises(JobNotFound):
        Transcoder(_Client(gexc.NotFound("no job")), "p", "l").get_job("projects/p/locations/l/jobs/x")
    failed = transcoder_v1.Job(name="n", state=transcoder_v1.Job.ProcessingState.FAILED)
    failed.error.message = "Input file could not be read"
    view = Transcoder(_Client(job=failed), "p", "l").get_job("n")
    assert (view.state, view.error, view.progress) == ("FAILED", "Input file could not be read", None)
    Transcoder(_Client(gexc.NotFound("gone")), "p", "l").delete_job("n")  # deleting a missing job is fine


def test_provider_follows_the_endpoint_setting() -> None:
    assert Transcoder(_Client(), "p", "l").provider == "google_cloud"
    assert Transcoder(_Client(), "p", "l", endpoint="http://127.0.0.1:1").provider == "local"


def test_the_official_client_against_a_closed_port_is_unavailable_at_once() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = transcoder(Settings(project_id="demo-unit", transcoder_endpoint=f"http://127.0.0.1:{port}"))
    assert adapter.provider == "local"
    with pytest.raises(Unavailable) as raised:
        adapter.get_job("projects/demo-unit/locations/l/jobs/x")
    assert raised.value.code == ErrorCode.TRANSCODE_PROVIDER_UNAVAILABLE
