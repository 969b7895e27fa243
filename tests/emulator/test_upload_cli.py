"""The uploader people run (kstream.client) against the local cloud: the CLI end to end, resume after an
interruption, retries after dropped connections, the chunk-endpoint mode. Every upload is checked byte for byte
against the source object that complete wrote."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from google.cloud import storage
from kstream.client import Interrupted, UploadApi, Uploader

from local_emulator.stack import FUNCTIONS_DIR, REPO, StackConfig
from tests.helpers import api_as, token_for

KIB = 1024
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def episode(tmp_path: Path, size: int, name: str = "episode.mp4") -> tuple[Path, bytes]:
    data = MP4_HEAD + os.urandom(size - len(MP4_HEAD))
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def source_bytes(cfg: StackConfig, video_id: str) -> bytes:
    blobs = list(storage.Client(project=cfg.project_id).list_blobs(cfg.source_bucket, prefix=f"sources/{video_id}/"))
    assert len(blobs) == 1
    return bytes(blobs[0].download_as_bytes())


def metadata(unique: str, episode_number: int = 1) -> dict[str, Any]:
    return {"title": f"Episode {episode_number}", "series": f"Client {unique}", "episode": episode_number}


def test_the_cli_uploads_a_file_and_prints_its_video_id(local_cloud: StackConfig, unique: str,
                                                        tmp_path: Path) -> None:
    path, data = episode(tmp_path, 3 * 1024 * KIB + 12345, "사랑 E01.mp4")
    token = token_for(local_cloud, "uploader", f"cli-{unique}@kstream.test")
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR), str(REPO)]), "KSTREAM_TOKEN": token}
    done = subprocess.run(
        [sys.executable, "-m", "kstream.client", "upload", str(path), "--series", f"CLI {unique}", "--episode", "3",
         "--api", local_cloud.gateway_url, "--chunk-size", "1", "--parallel", "3", "--checksum", "sha256",
         "--state-dir", str(state)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    video_id = done.stdout.strip().splitlines()[-1]
    assert "100.0%" in done.stderr and f"video {video_id}" in done.stderr
    assert source_bytes(local_cloud, video_id) == data
    assert list(state.iterdir()) == []  # nothing left to resume


def test_the_cli_explains_a_missing_token(tmp_path: Path) -> None:
    path, _ = episode(tmp_path, 1000)
    env = {k: v for k, v in os.environ.items() if k != "KSTREAM_TOKEN"}
    env["PYTHONPATH"] = str(FUNCTIONS_DIR)
    done = subprocess.run([sys.executable, "-m", "kstream.client", "upload", str(path), "--series", "S",
                           "--episode", "1"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2 and "KSTREAM_TOKEN" in done.stderr


def test_an_interrupted_upload_resumes_where_it_stopped(local_cloud: StackConfig, unique: str,
                                                        tmp_path: Path) -> None:
    path, data = episode(tmp_path, 10 * 256 * KIB - 777)
    api = UploadApi(local_cloud.gateway_url, token_for(local_cloud, "uploader", f"resume-{unique}@kstream.test"))
    state_dir = tmp_path / "state"
    stop = threading.Event()
    stored: list[int] = []

    def ctrl_c_after_three(index: int) -> None:
        stored.append(index)
        if len(stored) == 3:
            stop.set()  # what the CLI's SIGINT handler does

    first = Uploader(api, parallel=1, chunk_size=256 * KIB, state_dir=state_dir, show_progress=False)
    with pytest.raises(Interrupted, match="run the same command again"):
        first.upload(path, metadata(unique), stop=stop, on_chunk=ctrl_c_after_three)
    [saved] = list(state_dir.iterdir())
    upload_id = saved.read_text().split('"upload_id": "')[1].split('"')[0]
    status = api.status(upload_id)
    assert status["status"] == "uploading"
    assert sorted(status["receivedChunks"]) == sorted(stored) and len(stored) == 3
    kept = tmp_path / "kept.json"
    shutil.copy(saved, kept)

    second = Uploader(api, parallel=3, chunk_size=256 * KIB, state_dir=state_dir, show_progress=False)
    result = second.upload(path, metadata(unique))
    assert result.resumed and result.upload_id == upload_id
    assert result.chunks_sent == 7 and result.total_chunks == 10
    assert source_bytes(local_cloud, result.video_id) == data
    assert list(state_dir.iterdir()) == []

    shutil.copy(kept, saved)  # a crash after complete, before the state file was removed
    again = second.upload(path, metadata(unique))
    assert again.video_id == result.video_id and again.chunks_sent == 0


class DroppingSession(requests.Session):
    """The first PUT of every chunk dies with a reset connection, as a flaky uplink would."""

    seen: ClassVar[set[str]] = set()
    lock = threading.Lock()

    def put(self, url: str | bytes, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        key = str(url).split("?")[0]
        with self.lock:
            first = key not in self.seen
            self.seen.add(key)
        if first:
            raise requests.ConnectionError("connection reset by peer")
        return super().put(url, data=data, **kwargs)


def test_dropped_connections_are_retried(local_cloud: StackConfig, unique: str, tmp_path: Path) -> None:
    path, data = episode(tmp_path, 5 * 256 * KIB)
    api = UploadApi(local_cloud.gateway_url, token_for(local_cloud, "uploader", f"flaky-{unique}@kstream.test"))
    DroppingSession.seen = set()
    uploader = Uploader(api, parallel=2, chunk_size=256 * KIB, state_dir=tmp_path / "s", show_progress=False,
                        session_factory=DroppingSession, backoff_seconds=0.01)
    result = uploader.upload(path, metadata(unique, 2))
    assert len(DroppingSession.seen) == 5
    assert source_bytes(local_cloud, result.video_id) == data


def test_the_chunk_endpoint_mode_for_clients_without_storage_access(local_cloud: StackConfig, unique: str,
                                                                    tmp_path: Path) -> None:
    path, data = episode(tmp_path, 3 * 256 * KIB + 5)
    api = UploadApi(local_cloud.gateway_url, token_for(local_cloud, "uploader", f"viaapi-{unique}@kstream.test"))
    uploader = Uploader(api, parallel=2, chunk_size=256 * KIB, final_algorithm="md5", via_api=True,
                        state_dir=tmp_path / "s", show_progress=False)
    result = uploader.upload(path, metadata(unique, 3))
    assert result.chunks_sent == 4
    assert source_bytes(local_cloud, result.video_id) == data
    assert hashlib.md5(source_bytes(local_cloud, result.video_id)).hexdigest() == hashlib.md5(data).hexdigest()
    owner = api_as(local_cloud, "uploader", f"viaapi-{unique}@kstream.test")
    assert owner.get(f"/api/upload/status/{result.upload_id}").json()["status"] == "completed"
