"""The uploader against a scripted API and storage: the chunk size it picks (one compose call), chunk checksums
computed while sending (no pass over the file before start), the bound and off modes, the finalChecksum from the
chunks' CRCs (including chunks an interrupted run sent), and PUT bodies written in pieces."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
from kstream.client import Interrupted, Uploader
from kstream.client.checksums import whole_digest
from kstream.client.uploader import (
    CHUNK_ALIGNMENT,
    DEFAULT_CHUNK_SIZE,
    MAX_AUTO_CHUNK_SIZE,
    SINGLE_COMPOSE_CHUNKS,
    _Body,
    auto_chunk_size,
)

MIB = 1024 * 1024
GIB = 1024 * MIB


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc_text(data: bytes) -> str:
    return "crc32c:" + base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


# -- chunk size -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "chunk"), [(1, 5 * MIB), (100 * MIB, 5 * MIB), (160 * MIB, 5 * MIB),
                                             (161 * MIB, 5 * MIB + CHUNK_ALIGNMENT), (GIB, 32 * MIB),
                                             (2 * GIB, 64 * MIB)])
def test_the_chunk_size_gives_one_compose_call(size: int, chunk: int) -> None:
    assert auto_chunk_size(size) == chunk


@pytest.mark.parametrize("size", [1, 12345, 5 * MIB, 300 * MIB + 7, GIB - 1, GIB + 1, 2 * GIB - 3, 2 * GIB])
def test_any_episode_up_to_2_gib_is_at_most_32_aligned_chunks_of_5_to_64_mib(size: int) -> None:
    chunk = auto_chunk_size(size)
    assert chunk % CHUNK_ALIGNMENT == 0 and DEFAULT_CHUNK_SIZE <= chunk <= MAX_AUTO_CHUNK_SIZE
    assert -(-size // chunk) <= SINGLE_COMPOSE_CHUNKS


def test_the_chunk_endpoint_caps_the_chunk_at_16_mib() -> None:
    assert auto_chunk_size(GIB, via_api=True) == 16 * MIB


def test_put_bodies_go_out_in_1_mib_pieces_of_known_length() -> None:
    data = os.urandom(2 * MIB + 5)
    body = _Body(data)
    pieces = list(body)
    assert len(body) == len(data) and [len(p) for p in pieces] == [MIB, MIB, 5]
    assert b"".join(pieces) == data
    assert b"".join(body) == data  # a retry iterates again


# -- a scripted API and storage ---------------------------------------------------------------------------------------
class FakeApi:
    base = "http://api.test"

    def __init__(self, bind: bool = False) -> None:
        self.started: dict[str, Any] = {}
        self.stored: dict[int, bytes] = {}
        self.completed: list[str] = []
        self.lock = threading.Lock()

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        self.started = body
        count = -(-body["totalSize"] // body["chunkSize"])
        md5s = body.get("chunkChecksums")
        return {"uploadId": "u" * 32, "chunkSize": body["chunkSize"], "expiresAt": "2099-01-01T00:00:00Z",
                "chunkUrls": [f"https://storage.test/chunk-{i}" for i in range(count)],
                "requiredHeaders": [{"Content-MD5": m} for m in md5s] if md5s else [{} for _ in range(count)]}

    def status(self, upload_id: str) -> dict[str, Any]:
        count = -(-self.started["totalSize"] // self.started["chunkSize"])
        return {"status": "uploading", "missingChunks": [i for i in range(count) if i not in self.stored]}

    def complete(self, upload_id: str, final: str) -> dict[str, Any]:
        self.completed.append(final)
        return {"uploadId": upload_id, "videoId": "v1", "status": "processing", "transcodingJobId": "job-v1"}


class Ok:
    status_code, ok, text = 200, True, ""


class Storage:
    """A requests.Session stand-in: checks Content-MD5 as storage does, keeps what it was sent."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.puts: list[dict[str, Any]] = []

    def put(self, url: str, data: Any, headers: dict[str, str], timeout: Any) -> Any:
        body = b"".join(data)
        index = int(url.rsplit("-", 1)[1])
        with self.api.lock:
            self.puts.append({"index": index, "headers": dict(headers), "size": len(data)})
            if "Content-MD5" in headers:
                assert headers["Content-MD5"] == md5_b64(body), "storage would answer BadDigest"
            self.api.stored[index] = body
        return Ok()


def _file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "episode.mp4"
    path.write_bytes(data)
    return path, data


def _uploader(api: FakeApi, storage: Storage, tmp_path: Path, **kwargs: Any) -> Uploader:
    return Uploader(api, session_factory=lambda: storage, state_dir=tmp_path / "state",  # type: ignore[arg-type]
                    show_progress=False, **kwargs)


def test_by_default_chunk_md5s_are_computed_while_sending_and_sent_as_content_md5(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 11 * MIB + 3)
    api = FakeApi()
    storage = Storage(api)
    result = _uploader(api, storage, tmp_path).upload(path, {"title": "t", "series": "s", "episode": 1})
    assert api.started["chunkSize"] == 5 * MIB and "chunkChecksums" not in api.started
    assert sorted(p["index"] for p in storage.puts) == [0, 1, 2]
    assert all(p["headers"]["Content-MD5"] for p in storage.puts)  # checked against the body by Storage.put
    assert b"".join(api.stored[i] for i in range(3)) == data
    assert api.completed == [crc_text(data)]
    assert "checksums" not in result.timings and result.timings["finalChecksum"] < 5
    assert list((tmp_path / "state").iterdir()) == []


def test_bound_mode_declares_the_md5s_at_start_and_sends_the_bound_headers(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 3 * 256 * 1024 + 10)
    api = FakeApi()
    storage = Storage(api)
    result = _uploader(api, storage, tmp_path, chunk_size=256 * 1024, chunk_checksums="bound").upload(
        path, {"title": "t", "series": "s", "episode": 1})
    chunks = [data[i:i + 256 * 1024] for i in range(0, len(data), 256 * 1024)]
    assert api.started["chunkChecksums"] == [md5_b64(c) for c in chunks]
    assert {p["index"]: p["headers"]["Content-MD5"] for p in storage.puts} == {i: md5_b64(c)
                                                                             for i, c in enumerate(chunks)}
    assert api.completed == [crc_text(data)] and "checksums" in result.timings


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_off_mode_sends_no_md5_and_a_whole_file_digest_is_read_beside_the_puts(tmp_path: Path,
                                                                               algorithm: str) -> None:
    path, data = _file(tmp_path, 600 * 1024)
    api = FakeApi()
    storage = Storage(api)
    _uploader(api, storage, tmp_path, chunk_size=256 * 1024, chunk_checksums="off",
              final_algorithm=algorithm).upload(path, {"title": "t", "series": "s", "episode": 1})
    assert all("Content-MD5" not in p["headers"] for p in storage.puts)
    assert api.completed == [hashlib.new(algorithm, data).hexdigest()]


def test_a_resumed_upload_reads_the_chunks_sent_earlier_for_the_final_crc(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 10 * 256 * 1024 - 99)
    api = FakeApi()
    storage = Storage(api)
    stop = threading.Event()
    sent: list[int] = []

    def stop_after_four(index: int) -> None:
        sent.append(index)
        if len(sent) == 4:
            stop.set()

    with pytest.raises(Interrupted):
        _uploader(api, storage, tmp_path, chunk_size=256 * 1024, parallel=1).upload(
            path, {"title": "t", "series": "s", "episode": 1}, stop=stop, on_chunk=stop_after_four)
    assert len(api.stored) == 4 and api.completed == []
    again = _uploader(api, Storage(api), tmp_path, chunk_size=256 * 1024, parallel=3).upload(
        path, {"title": "t", "series": "s", "episode": 1})
    assert again.resumed and again.chunks_sent == 6
    assert api.completed == [crc_text(data)]


def test_a_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="chunk_checksums"):
        Uploader(FakeApi(), chunk_checksums="sometimes")  # type: ignore[arg-type]


def test_the_whole_file_digest_stops_when_the_upload_does(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 9 * MIB)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert whole_digest(fd, len(data), "sha256") == hashlib.sha256(data).hexdigest()
        with pytest.raises(CancelledError):
            whole_digest(fd, len(data), "md5", cancelled=lambda: True)
    finally:
        os.close(fd)
