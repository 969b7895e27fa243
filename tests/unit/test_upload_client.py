"""The uploader's pure parts: checksums (CRC32C combination), progress line, resume state, retry policy, and the
chunk endpoint's body reading (multipart and raw, bounded)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import threading
from pathlib import Path
from typing import Any

import flask
import google_crc32c
import pytest
import requests
from kstream.api import uploads as upload_handlers
from kstream.client import Uploader, UploadFailed, checksums, progress
from kstream.client.uploader import StateFile, _Session, state_key
from kstream.errors import RequestInvalid


# -- checksums ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("split", [0, 1, 7, 4096, 99_999, 100_000])
def test_crc32c_combine_matches_one_pass(split: int) -> None:
    data = os.urandom(100_000)
    a, b = data[:split], data[split:]
    combined = checksums.crc32c_combine(google_crc32c.value(a), google_crc32c.value(b), len(b))
    assert combined == google_crc32c.value(data)


@pytest.mark.parametrize("algorithm", ["crc32c", "md5", "sha256"])
def test_file_checksums(tmp_path: Path, algorithm: str) -> None:
    data = os.urandom(3 * 65536 + 123)
    path = tmp_path / "f.mp4"
    path.write_bytes(data)
    found = checksums.file_checksums(str(path), len(data), 65536, algorithm, threads=3)
    assert found.chunk_md5s == [base64.b64encode(hashlib.md5(data[i:i + 65536]).digest()).decode()
                                for i in range(0, len(data), 65536)]
    expected = {
        "crc32c": "crc32c:" + base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode(),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }[algorithm]
    assert found.final == expected
    without = checksums.file_checksums(str(path), len(data), 65536, algorithm, threads=2, chunk_md5s=False)
    assert without.chunk_md5s == [] and without.final == expected


# -- progress ---------------------------------------------------------------------------------------------------
def test_progress_line_shows_percent_speed_and_eta() -> None:
    line = progress.render("ep.mp4", 512 * 1024 * 1024, 1024 * 1024 * 1024, 64 * 1024 * 1024)
    assert line.startswith("ep.mp4  50.0% [############------------]")
    assert "512.0 MiB/1.0 GiB" in line
    assert "64.0 MiB/s" in line
    assert line.endswith("ETA 0:08")
    assert progress.render("x", 0, 10, None).endswith("-- ETA --:--")
    assert progress.human_duration(3725) == "1:02:05"


def test_progress_counts_bytes_from_threads() -> None:
    out = io.StringIO()
    bar = progress.Progress(1000, "f", stream=out, interval=0)
    bar.start_at(100)
    threads = [threading.Thread(target=lambda: [bar.advance(1) for _ in range(300)]) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bar.finish("done")
    assert bar.done == 1000
    assert out.getvalue().rstrip().endswith("done")


# -- resume state -----------------------------------------------------------------------------------------------
def _session() -> _Session:
    return _Session("u1", 4, 2, ["https://a", "https://b"], [{}, {}], "2099-01-01T00:00:00Z", "crc32c:AAAAAA==")


def test_state_files_are_private_and_round_trip(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "state", "k")
    state.save(_session(), {"file": "x"})
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600
    assert state.load() == _session()
    state.path.write_text("{not json")
    assert state.load() is None
    state.remove()
    assert state.load() is None


def test_the_state_key_follows_the_file_and_the_episode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    base = state_key(path, 10, 1, "http://api", {"series": "S", "episode": 1})
    assert base == state_key(path, 10, 1, "http://api/", {"series": "S", "episode": 1})
    assert base != state_key(path, 10, 2, "http://api", {"series": "S", "episode": 1})
    assert base != state_key(path, 10, 1, "http://api", {"series": "S", "episode": 2})


# -- retries ----------------------------------------------------------------------------------------------------
class FakeResponse:
    def __init__(self, status: int, text: str = "") -> None:
        self.status_code = status
        self.text = text
        self.ok = 200 <= status < 300


class ScriptedSession:
    """Answers PUTs from a script shared by all threads: exceptions are raised, ints become responses."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.puts: list[dict[str, Any]] = []

    def put(self, url: str, data: bytes, headers: dict[str, str], timeout: Any) -> FakeResponse:
        self.puts.append({"url": url, "size": len(data), "headers": headers})
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        return FakeResponse(step[0], step[1]) if isinstance(step, tuple) else FakeResponse(step)


def _uploader(session: ScriptedSession) -> Uploader:
    return Uploader(None, session_factory=lambda: session, backoff_seconds=0.001, attempts=4,  # type: ignore[arg-type]
                    show_progress=False)


def test_dropped_connections_and_5xx_are_retried_with_the_bound_headers() -> None:
    session = ScriptedSession([requests.ConnectionError("reset"), 503, requests.Timeout("slow"), 200])
    sent = _session()
    sent.required_headers[0] = {"Content-MD5": "abc"}
    _uploader(session)._send_chunk(sent, 0, b"data", threading.Event())
    assert len(session.puts) == 4
    assert session.puts[-1]["headers"] == {"Content-Type": "application/octet-stream", "Content-MD5": "abc"}


def test_storage_refusals_stop_at_once_with_a_clear_reason() -> None:
    session = ScriptedSession([(400, "<Error><Code>BadDigest</Code></Error>")])
    with pytest.raises(UploadFailed, match="other bytes"):
        _uploader(session)._send_chunk(_session(), 1, b"data", threading.Event())
    session = ScriptedSession([(400, "<Error><Code>ExpiredToken</Code></Error>")])
    with pytest.raises(UploadFailed, match="expired"):
        _uploader(session)._send_chunk(_session(), 1, b"data", threading.Event())
    assert len(session.puts) == 1


def test_giving_up_after_the_last_attempt_says_how_to_resume() -> None:
    session = ScriptedSession([500] * 10)
    with pytest.raises(UploadFailed, match="run the same command again"):
        _uploader(session)._send_chunk(_session(), 0, b"data", threading.Event())
    assert len(session.puts) == 4


# -- the chunk endpoint's body ------------------------------------------------------------------------------------
app = flask.Flask(__name__)


def _read(body: bytes, content_type: str, expected: int) -> bytes:
    with app.test_request_context("/", method="POST", data=body, content_type=content_type):
        spool, size = upload_handlers._chunk_body(flask.request, expected)
        spool.seek(0)
        data = spool.read()
        spool.close()
        assert size == len(data)
        return data


def _multipart(field: str, payload: bytes) -> tuple[bytes, str]:
    boundary = "kstreamboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"c\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_raw_and_multipart_chunk_bodies() -> None:
    payload = os.urandom(300_000)
    assert _read(payload, "application/octet-stream", len(payload)) == payload
    body, content_type = _multipart("chunk", payload)
    assert _read(body, content_type, len(payload)) == payload


def test_chunk_bodies_are_bounded_and_named() -> None:
    payload = os.urandom(1000)
    with pytest.raises(RequestInvalid, match="larger than"):
        _read(payload, "application/octet-stream", 999)
    body, content_type = _multipart("chunk", os.urandom(200_000))
    with pytest.raises(RequestInvalid, match="larger than"):
        _read(body, content_type, 1000)
    body, content_type = _multipart("file", payload)
    with pytest.raises(RequestInvalid, match="'chunk'"):
        _read(body, content_type, 1000)
    with pytest.raises(RequestInvalid, match="Content-Type"):
        _read(payload, "text/plain", 1000)
