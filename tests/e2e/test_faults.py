"""A crash anywhere loses nothing: each service of the local cloud is killed (SIGKILL, its whole process group) at
a chosen moment of an upload -> transcode -> ready run, and the run still ends with the video ready, exactly one
Transcoder job for its source, one video in its series, the upload session completed, and every service serving.

The stack is this module's own (persistent, as `make dev` runs: Firestore and Auth are exported every 2 s and a
restarted emulator imports the last export; the sweep ticks every 3 s), so killing its services disturbs no other
test. The client behaves as a user would: the upload client retries what failed, and is run again if it gave up.
bench/bench_faults.py runs the same scenarios and prints how long each took to recover.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kstream import leases
from kstream.client import Interrupted, UploadApi, Uploader

from local_emulator import tokens
from local_emulator.processes import http_ok
from local_emulator.stack import FUNCTIONS_DIR, REPO, LocalCloud, StackConfig
from tests.emulator import transcode_support as ts
from tests.helpers import api_as

READY_WITHIN = 120.0  # seconds, per run, faults included
FAULTS = ("functions", "eventarc", "pubsub", "firestore", "storage", "auth", "transcoder")


@dataclass
class Run:
    """What one upload -> ready run did, and when (monotonic seconds)."""

    series: str
    fault: str | None
    killed_at: float | None = None
    ready_at: float | None = None
    upload_id: str = ""
    video_id: str = ""
    job_id: str = ""
    attempts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def recovery(self) -> float | None:
        """Seconds from the kill to the video being ready."""
        return None if self.killed_at is None or self.ready_at is None else self.ready_at - self.killed_at


def start_cloud(state_dir: Path, log: Any) -> LocalCloud:
    cfg = StackConfig.ephemeral(state_dir, persist=True, flush_seconds=2.0, sweep_seconds=3.0,
                                transcoder_min_input_seconds=1.0)
    cloud = LocalCloud(cfg, log=log, colour=False)
    cloud.start()
    return cloud


def _firestore_doc(cfg: StackConfig, path: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{cfg.firestore_port}/v1/projects/{cfg.project_id}/databases/(default)/documents/{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return dict(json.loads(response.read()).get("fields") or {})
    except OSError:
        return {}


def _field(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name) or {}
    return value.get("stringValue")


class Scenario:
    """One upload of a fresh 2 s clip into a new series, with ``fault`` killed at its moment."""

    def __init__(self, cloud: LocalCloud, media: Path, fault: str | None) -> None:
        self.cloud = cloud
        self.cfg = cloud.config
        self.media = media
        self.run = Run(series=f"Faults {fault or 'none'} {uuid.uuid4().hex[:8]}", fault=fault)
        self.email = f"faults-{uuid.uuid4().hex[:8]}@kstream.test"
        self.token = tokens.user_token(self.cfg, "uploader", self.email)
        self.state_dir = media / f"client-{uuid.uuid4().hex[:6]}"

    # -- the kill --------------------------------------------------------------------------------------------
    def kill(self, name: str) -> None:
        sup = self.cloud.supervisor
        sup.restarted.clear()
        if name == "functions":  # the gunicorn workers (what serves the requests), not the master
            master = sup.service("functions").process
            assert master is not None
            children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        else:
            sup.kill(name)
        self.run.killed_at = time.monotonic()
        self.run.notes.append(f"killed {name}")

    # -- the user's side -------------------------------------------------------------------------------------
    def upload(self, on_chunk: Callable[[int], None] | None = None) -> str:
        """The upload client, run again (as a user would) until it succeeds; the video id."""
        source = ts.make_source(self.media, "fault-source.mp4")
        metadata = self._metadata()
        last: Exception | None = None
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            self.run.attempts += 1
            api = UploadApi(self.cfg.gateway_url, self.token)
            uploader = Uploader(api, chunk_size=256 * 1024, parallel=2, final_algorithm="md5",
                                state_dir=self.state_dir, show_progress=False, attempts=4)
            try:
                result = uploader.upload(source, metadata, on_chunk=on_chunk)
                self.run.upload_id, self.run.video_id = result.upload_id, result.video_id
                self.run.job_id = result.transcoding_job_id or f"job-{result.video_id}"
                return result.video_id
            except Exception as exc:  # the user runs the client again
                last = exc
                self.run.notes.append(f"upload attempt {self.run.attempts}: {exc.__class__.__name__}: "
                                      f"{str(exc)[:160]}")
                on_chunk = None
                time.sleep(1)
        raise AssertionError(f"the upload never succeeded: {last}")

    def _metadata(self) -> dict[str, Any]:
        return {"title": "Fault episode", "series": self.run.series, "episode": 1, "language": "ko"}

    def wait_ready(self) -> dict[str, Any]:
        video = ts.wait_for(lambda: (lambda v: v if v.get("status") in ("ready", "failed") else None)(
            self._video()), timeout=READY_WITHIN, interval=0.25, what=f"video of {self.run.series} to finish")
        self.run.ready_at = time.monotonic()
        return dict(video)

    def _video(self) -> dict[str, Any]:
        try:
            return ts.video_as_admin(self.cfg, self.run.video_id)
        except (AssertionError, OSError):
            return {}  # the gateway or the functions are restarting

    def wait_job_state(self, states: tuple[str, ...]) -> None:
        ts.wait_for(lambda: _field(_firestore_doc(self.cfg, f"transcodeJobs/{self.run.job_id}"), "state") in states,
                    timeout=60, interval=0.05, what=f"job {self.run.job_id} in {states}")

    # -- the whole run ---------------------------------------------------------------------------------------
    def play(self) -> Run:
        fault = self.run.fault
        if fault in ("functions",):  # the worker holding upload/complete dies mid-complete
            self._complete_killed()
        elif fault == "storage":  # fake-gcs-server dies while the chunks are being sent
            sent = threading.Event()

            def after_chunk(index: int) -> None:
                if not sent.is_set():
                    sent.set()
                    self.kill("storage")

            self.upload(on_chunk=after_chunk)
        elif fault == "auth":  # the Auth emulator dies between start and complete (tokens checked for revocation)
            time.sleep(self.cfg.flush_seconds + 1)  # the new user is flushed (a crash recovers what was flushed)
            self.upload(on_chunk=lambda index: self.kill("auth") if index == 0 and self.run.killed_at is None
                        else None)
        else:
            self.upload()
            if fault is not None:  # the rest die while the Transcoder job runs (its notice still to come)
                self.wait_job_state(("queued", "processing"))
                if fault == "firestore":
                    time.sleep(self.cfg.flush_seconds + 1)  # what a crash recovers is what was flushed
                self.kill(fault)
        video = self.wait_ready()
        assert video["status"] == "ready", (video, self.run)
        return self.run

    def _complete_killed(self) -> None:
        """The chunks are sent; a function instance takes the session's completion lease (its heartbeat renewing
        it) and is killed together with every functions worker; the client's next complete takes the dead
        holder's lease over within one lease, and the 503 it meets meanwhile says truly when to come back."""
        stop = threading.Event()
        source = ts.make_source(self.media, "fault-source.mp4")
        count = -(-source.stat().st_size // (256 * 1024))
        sent: set[int] = set()

        def after_chunk(index: int) -> None:
            sent.add(index)
            if len(sent) == count:
                stop.set()  # every chunk is stored: the client stops before its complete

        uploader = Uploader(UploadApi(self.cfg.gateway_url, self.token), chunk_size=256 * 1024, parallel=2,
                            final_algorithm="md5", state_dir=self.state_dir, show_progress=False)
        with contextlib.suppress(Interrupted):
            uploader.upload(source, self._metadata(), stop=stop, on_chunk=after_chunk)
        saved = next(self.state_dir.glob("*.json"))
        self.run.upload_id = json.loads(saved.read_text())["session"]["upload_id"]
        env = {**os.environ, **self.cfg.emulator_env(), "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR), str(REPO)])}
        holder = subprocess.Popen([sys.executable, "-c", _HOLDER, self.run.upload_id, self.cfg.project_id], env=env,
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "LEASED"
            time.sleep(leases.HEARTBEAT_SECONDS + 1)  # renewed at least once by now
            refused = api_as(self.cfg, "uploader", self.email).post(
                f"/api/upload/chunk/{self.run.upload_id}/0", data=b"x",
                headers={"Content-Type": "application/octet-stream", "X-Chunk-Checksum": "0" * 32})
            assert refused.status_code == 503, refused.text
            assert 1 <= int(refused.headers["Retry-After"]) <= leases.LEASE_SECONDS, refused.headers
        finally:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
        self.kill("functions")
        self.upload()  # run again: resumes the session, completes it


# A function instance that takes an upload's completion lease and keeps it alive until it is killed.
_HOLDER = """
import sys, time
from datetime import UTC, datetime
from google.cloud import firestore
from kstream import leases
from kstream.uploads.repository import UploadRepository

upload_id, project = sys.argv[1], sys.argv[2]
repo = UploadRepository(firestore.Client(project=project))
taken = repo.begin_complete(upload_id, datetime.now(UTC), leases.LEASE_SECONDS)
assert taken.kind == "lease", taken.kind
with leases.Heartbeat(lambda until: repo.renew(upload_id, taken.lease_id, until)):
    print("LEASED", flush=True)
    time.sleep(600)
"""


def check_converged(cloud: LocalCloud, run: Run) -> None:
    """One Transcoder job, one video in the series, the session completed, every service serving."""
    cfg = cloud.config
    jobs = ts.transcoder_jobs_for(ts.settings_for(cfg), run.job_id)
    assert len(jobs) == 1, (jobs, run)
    listed = api_as(cfg, "admin").get("/api/metadata/videos/search", params={"series": run.series}).json()
    assert [v["id"] for v in listed["videos"]] == [run.video_id], (listed, run)
    upload = _firestore_doc(cfg, f"uploads/{run.upload_id}")
    assert _field(upload, "status") == "completed", (upload, run)
    assert cloud.running(), [s.name for s in cloud.supervisor.services if s.process and s.process.poll() is not None]
    assert http_ok(f"{cfg.gateway_url}/_emulator/healthz") and http_ok(f"{cfg.functions_url}/_healthz")
    assert api_as(cfg, "user").get(f"/api/videos/{run.video_id}").status_code == 200


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state_dir = tmp_path_factory.mktemp("fault-cloud")
    with (state_dir / "stack.log").open("w") as log:
        started = start_cloud(state_dir, log)
        try:
            yield started
        finally:
            started.stop()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-media")


@pytest.mark.parametrize("fault", FAULTS)
def test_killing_a_service_mid_run_still_ends_with_one_ready_video(cloud: LocalCloud, media: Path,
                                                                    fault: str) -> None:
    run = Scenario(cloud, media, fault).play()
    check_converged(cloud, run)
    assert run.recovery is not None and run.recovery < READY_WITHIN, run
