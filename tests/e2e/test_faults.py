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
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kstream.client import UploadApi, Uploader

from local_emulator import tokens
from local_emulator.processes import http_ok
from local_emulator.stack import LocalCloud, StackConfig
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
        metadata = {"title": "Fault episode", "series": self.run.series, "episode": 1, "language": "ko"}
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
        """Start the upload; kill the functions workers while one holds the session's completion lease; the
        client's next complete must take over the dead holder's lease within one lease."""
        outcome: dict[str, Any] = {}

        def client() -> None:
            outcome["video"] = self.upload()

        def completing() -> bool:
            uploads = _firestore_doc(self.cfg, f"uploads/{self.run.upload_id}") if self.run.upload_id else {}
            return _field(uploads, "status") == "completing"

        # The upload id is known once start answers: watch the session from the state file the client saves.
        worker = threading.Thread(target=client, daemon=True)
        worker.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.is_alive():
            for saved in self.state_dir.glob("*.json") if self.state_dir.exists() else []:
                with contextlib.suppress(OSError, ValueError, KeyError):
                    self.run.upload_id = self.run.upload_id or json.loads(saved.read_text())["session"]["upload_id"]
            if completing():
                self.kill("functions")
                break
            time.sleep(0.005)
        worker.join(READY_WITHIN)
        assert "video" in outcome, self.run
        assert self.run.killed_at is not None, f"the complete ended before it could be killed: {self.run}"


def check_converged(cloud: LocalCloud, run: Run) -> None:
    """One Transcoder job, one video in the series, the session completed, every service serving."""
    cfg = cloud.config
    jobs = ts.transcoder_jobs_for(ts.settings_for(cfg), run.job_id)
    assert len(jobs) == 1, (jobs, run)
    listed = api_as(cfg, "admin").get("/api/videos", params={"series": run.series}).json()
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
