"""Uploads through the local cloud: the API behind the gateway, chunks PUT to the gateway's storage front (which
checks V4 signatures, expiry and Content-MD5 as Cloud Storage does) into fake-gcs-server, state in the Firestore
emulator, two function worker processes. Files are small; every name and user is unique per test."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import google_crc32c
import pytest
import requests
from google.cloud import firestore, storage
from kstream.adapters import url_signing
from kstream.settings import Settings

from local_emulator import tokens
from local_emulator.stack import StackConfig
from tests.helpers import Api, api_as, assert_envelope

KIB = 1024
CHUNK = 256 * KIB
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def video_bytes(size: int) -> bytes:
    return MP4_HEAD + os.urandom(size - len(MP4_HEAD))


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32c_text(data: bytes) -> str:
    return "crc32c:" + base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def chunks_of(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def status_owner(cfg: StackConfig, unique: str, name: str = "up") -> str:
    return tokens.ensure_user(cfg, f"{name}-{unique}@kstream.test", "uploader")


def uploader(cfg: StackConfig, unique: str, name: str = "up") -> Api:
    return api_as(cfg, "uploader", f"{name}-{unique}@kstream.test")


def start(api: Api, data: bytes, *, filename: str = "episode.mp4", declare: bool = False,
          chunk_size: int = CHUNK, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"filename": filename, "totalSize": len(data), "chunkSize": chunk_size,
                            "metadata": {"title": "Episode 1", "series": "Upload Tests", "episode": 1}, **extra}
    if declare:
        body["chunkChecksums"] = [md5_b64(c) for c in chunks_of(data, chunk_size)]
    response = api.post("/api/upload/start", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def put(started: dict[str, Any], index: int, payload: bytes, headers: dict[str, str] | None = None
        ) -> requests.Response:
    sent = {"Content-Type": "application/octet-stream", **started["requiredHeaders"][index], **(headers or {})}
    return requests.put(started["chunkUrls"][index], data=payload, headers=sent, timeout=30)


def source_blob(cfg: StackConfig, video_id: str) -> storage.Blob:
    client = storage.Client(project=cfg.project_id)
    found = list(client.list_blobs(cfg.source_bucket, prefix=f"sources/{video_id}/"))
    assert len(found) == 1, [b.name for b in found]
    return found[0]


def chunk_objects(cfg: StackConfig, upload_id: str) -> list[str]:
    client = storage.Client(project=cfg.project_id)
    return [b.name for b in client.list_blobs(cfg.upload_bucket, prefix=f"uploads/{upload_id}/")]


# -- the whole path ---------------------------------------------------------------------------------------------
def test_out_of_order_and_repeated_chunks_compose_byte_for_byte(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    data = video_bytes(37 * CHUNK - 1234)  # 37 chunks: a two-level compose tree (2 + 1 calls)
    started = start(api, data)
    assert len(started["chunkUrls"]) == started["totalChunks"] == 37
    assert started["checksums"] == [""] * 37 and started["requiredHeaders"] == [{}] * 37
    assert started["expiresAt"].endswith("Z")
    pieces = chunks_of(data)
    order = [*range(36, -1, -1), 5, 0, 36]  # backwards, then three repeats
    for index in order:
        assert put(started, index, pieces[index]).status_code == 200
    status = api.get(f"/api/upload/status/{started['uploadId']}").json()
    assert status["receivedChunks"] == list(range(37)) and status["missingChunks"] == []
    done = api.post(f"/api/upload/complete/{started['uploadId']}",
                    json={"finalChecksum": hashlib.sha256(data).hexdigest()})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "processing"
    assert body["transcodingJobId"] == f"job-{body['videoId']}"
    blob = source_blob(local_cloud, body["videoId"])
    assert blob.download_as_bytes() == data
    assert blob.name == f"sources/{body['videoId']}/episode.mp4"
    assert blob.content_type == "video/mp4"
    assert blob.metadata["uploadId"] == started["uploadId"]
    assert blob.metadata["transcodingJobId"] == body["transcodingJobId"]
    assert blob.metadata["series"] == "Upload Tests" and blob.metadata["episode"] == "1"
    assert chunk_objects(local_cloud, started["uploadId"]) == []  # chunks and compose scratch are gone
    video = firestore.Client(project=local_cloud.project_id).collection("videos").document(body["videoId"]).get()
    assert video.exists, "complete creates the video in the catalog"
    # processing when created; the transcode pipeline (started by the source object) may have moved it on since:
    # these bytes are not a playable video.
    assert video.get("status") in ("processing", "failed")
    assert video.get("uploaderId") == status_owner(local_cloud, unique)
    status = api.get(f"/api/upload/status/{started['uploadId']}").json()
    assert status["status"] == "completed" and status["videoId"] == body["videoId"]


def test_the_specs_usual_5000000_byte_chunks_work(local_cloud: StackConfig, unique: str) -> None:
    """The spec's chunkSize is "usually 5MB": 5 000 000, not a multiple of 256 KiB. Only the last chunk is shorter."""
    api = uploader(local_cloud, unique)
    data = video_bytes(2 * 5_000_000 + 123_457)
    started = start(api, data, chunk_size=5_000_000, declare=True)
    assert started["chunkSize"] == 5_000_000 and started["totalChunks"] == 3
    for index, piece in enumerate(chunks_of(data, 5_000_000)):
        assert put(started, index, piece).status_code == 200
    done = api.post(f"/api/upload/complete/{started['uploadId']}", json={"finalChecksum": crc32c_text(data)})
    assert done.status_code == 200, done.text
    assert source_blob(local_cloud, done.json()["videoId"]).download_as_bytes() == data


def test_a_corrupted_chunk_is_rejected_by_storage(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    data = video_bytes(2 * CHUNK)
    started = start(api, data, declare=True)
    good = chunks_of(data)[0]
    assert started["requiredHeaders"][0] == {"Content-MD5": md5_b64(good)}
    assert started["checksums"][0] == md5_b64(good)
    corrupted = bytes([good[0] ^ 1]) + good[1:]
    refused = put(started, 0, corrupted)
    assert refused.status_code == 400 and "<Code>BadDigest</Code>" in refused.text
    relabelled = put(started, 0, corrupted, {"Content-MD5": md5_b64(corrupted)})  # the header is signed
    assert relabelled.status_code == 403 and "SignatureDoesNotMatch" in relabelled.text
    unlabelled = requests.put(started["chunkUrls"][0], data=corrupted, timeout=30)
    assert unlabelled.status_code == 400 and "MalformedSecurityHeader" in unlabelled.text
    assert api.get(f"/api/upload/status/{started['uploadId']}").json()["missingChunks"] == [0, 1]
    assert put(started, 0, good).status_code == 200


def test_tampered_and_expired_signed_urls_are_refused(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    data = video_bytes(2 * CHUNK)
    started = start(api, data)
    url = started["chunkUrls"][0]
    parts = urlsplit(url)
    other_object = url.replace("chunk-00000", "chunk-00001", 1)
    longer = urlunsplit(parts._replace(query=parts.query.replace("X-Goog-Expires=", "X-Goog-Expires=1")))
    unsigned = urlunsplit(parts._replace(query=""))
    for tampered, status in ((other_object, 403), (longer, 403), (unsigned, 403)):
        response = requests.put(tampered, data=b"x", timeout=30)
        assert response.status_code == status, (tampered, response.text)
    assert chunk_objects(local_cloud, started["uploadId"]) == []
    # A URL signed like the function signs, with the local key, but living one second.
    settings = Settings(project_id=local_cloud.project_id, signing_key_file=str(local_cloud.signing_key_file),
                        storage_public_url=local_cloud.storage_url)
    short = url_signing.signer(settings).put_url(local_cloud.upload_bucket, f"uploads/{unique}/chunk-00000",
                                                 datetime.now(UTC) + timedelta(seconds=1.5))
    time.sleep(2.2)
    expired = requests.put(short, data=b"x", timeout=30)
    assert expired.status_code == 400 and "ExpiredToken" in expired.text


# -- complete -------------------------------------------------------------------------------------------------
def test_missing_chunks_and_a_wrong_final_checksum_leave_the_upload_completable(
        local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    data = video_bytes(4 * CHUNK - 10)
    started = start(api, data)
    upload_id = started["uploadId"]
    pieces = chunks_of(data)
    for index in (0, 1, 3):
        assert put(started, index, pieces[index]).status_code == 200
    missing = assert_envelope(api.post(f"/api/upload/complete/{upload_id}",
                                       json={"finalChecksum": hashlib.md5(data).hexdigest()}),
                              400, "UPLOAD_CHUNK_MISSING")
    assert missing["details"]["missingChunks"] == [2]
    assert put(started, 2, pieces[2][:-1]).status_code == 200  # one byte short: still missing
    short = assert_envelope(api.post(f"/api/upload/complete/{upload_id}", json={"finalChecksum": crc32c_text(data)}),
                            400, "UPLOAD_CHUNK_MISSING")
    assert short["details"]["wrongSize"] == [2]
    assert put(started, 2, pieces[2]).status_code == 200
    wrong = assert_envelope(api.post(f"/api/upload/complete/{upload_id}",
                                     json={"finalChecksum": hashlib.md5(data + b"x").hexdigest()}),
                            400, "UPLOAD_CHECKSUM_MISMATCH")
    assert wrong["details"]["actual"] == hashlib.md5(data).hexdigest()
    wrong_crc = assert_envelope(api.post(f"/api/upload/complete/{upload_id}",
                                         json={"finalChecksum": crc32c_text(data + b"x")}),
                                400, "UPLOAD_CHECKSUM_MISMATCH")
    assert wrong_crc["details"]["actual"] == crc32c_text(data).split(":", 1)[1]
    assert api.get(f"/api/upload/status/{upload_id}").json()["status"] == "uploading"
    done = api.post(f"/api/upload/complete/{upload_id}", json={"finalChecksum": crc32c_text(data)})
    assert done.status_code == 200, done.text
    assert source_blob(local_cloud, done.json()["videoId"]).download_as_bytes() == data


def test_double_and_concurrent_completes_make_one_video(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    data = video_bytes(3 * CHUNK)
    started = start(api, data)
    for index, piece in enumerate(chunks_of(data)):
        assert put(started, index, piece).status_code == 200
    path = f"/api/upload/complete/{started['uploadId']}"
    body = {"finalChecksum": hashlib.md5(data).hexdigest()}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: api_as(local_cloud, "uploader", f"up-{unique}@kstream.test").post(
            path, json=body, timeout=120), range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    again = api.post(path, json=body)
    assert again.status_code == 200
    video_ids = {a.json()["videoId"] for a in [*answers, again]}
    assert len(video_ids) == 1
    source_blob(local_cloud, video_ids.pop())  # exactly one source object


def test_files_that_are_not_video_are_refused_at_complete(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(CHUNK)
    started = start(api, data)
    for index, piece in enumerate(chunks_of(data)):
        assert put(started, index, piece).status_code == 200
    assert_envelope(api.post(f"/api/upload/complete/{started['uploadId']}", json={"finalChecksum": crc32c_text(data)}),
                    400, "UPLOAD_INVALID_FORMAT")


# -- who may touch an upload ----------------------------------------------------------------------------------
def test_another_users_upload_is_not_found_and_admins_see_it(local_cloud: StackConfig, unique: str) -> None:
    owner = uploader(local_cloud, unique, "owner")
    other = uploader(local_cloud, unique, "other")
    data = video_bytes(CHUNK)
    started = start(owner, data)
    upload_id = started["uploadId"]
    stranger = assert_envelope(other.get(f"/api/upload/status/{upload_id}"), 404, "UPLOAD_NOT_FOUND")
    unknown = assert_envelope(other.get(f"/api/upload/status/{'0' * 32}"), 404, "UPLOAD_NOT_FOUND")
    assert stranger["message"].replace(upload_id, "X") == unknown["message"].replace("0" * 32, "X")
    assert_envelope(other.post(f"/api/upload/complete/{upload_id}", json={"finalChecksum": crc32c_text(data)}),
                    404, "UPLOAD_NOT_FOUND")
    assert_envelope(other.post(f"/api/upload/chunk/{upload_id}/0", data=data,
                               headers={"Content-Type": "application/octet-stream",
                                        "X-Chunk-Checksum": hashlib.md5(data).hexdigest()}),
                    404, "UPLOAD_NOT_FOUND")
    assert_envelope(other.get("/api/upload/status/../../etc"), 404, "ROUTE_NOT_FOUND")
    viewer = api_as(local_cloud, "user", f"viewer-{unique}@kstream.test")
    assert_envelope(viewer.post("/api/upload/start", json={}), 403, "AUTH_INSUFFICIENT_PERMISSIONS")
    admin = api_as(local_cloud, "admin", f"admin-{unique}@kstream.test")
    assert admin.get(f"/api/upload/status/{upload_id}").json()["missingChunks"] == [0]


# -- start ------------------------------------------------------------------------------------------------------
def test_the_2_gib_bound(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    metadata = {"title": "Big", "series": "Upload Tests", "episode": 2}
    at_limit = api.post("/api/upload/start", json={"filename": "big.mkv", "totalSize": 2 * 1024**3,
                                                   "metadata": metadata})
    assert at_limit.status_code == 200, at_limit.text
    body = at_limit.json()
    assert len(body["chunkUrls"]) == 410 and body["chunkSize"] == 5 * 1024 * 1024
    assert len(set(body["chunkUrls"])) == 410
    over = assert_envelope(api.post("/api/upload/start", json={"filename": "big.mkv", "totalSize": 2 * 1024**3 + 1,
                                                               "metadata": metadata}),
                           413, "UPLOAD_FILE_TOO_LARGE")
    assert over["details"]["maximum"] == 2 * 1024**3


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"filename": "../../etc/x.mp4"}, 400, "REQUEST_INVALID"),
    ({"filename": "ep\u0007.mp4"}, 400, "REQUEST_INVALID"),
    ({"filename": "episode.flv"}, 400, "UPLOAD_INVALID_FORMAT"),
    ({"chunkSize": 256 * 1024 - 1}, 400, "REQUEST_INVALID"),  # below the minimum (any size above is fine)
    ({"chunkSize": 256 * 1024, "totalSize": 1024**3}, 400, "REQUEST_INVALID"),
    ({"totalSize": -5}, 400, "REQUEST_INVALID"),
    ({"chunkChecksums": ["nope"]}, 400, "REQUEST_INVALID"),
    ({"metadata": {"title": "", "series": "s", "episode": 1}}, 400, "REQUEST_INVALID"),
    ({"surprise": True}, 400, "REQUEST_INVALID"),
])
def test_bad_starts_are_clear_errors(local_cloud: StackConfig, unique: str, change: dict[str, Any], status: int,
                                     code: str) -> None:
    api = uploader(local_cloud, unique)
    body = {"filename": "ok.mp4", "totalSize": 1000, "metadata": {"title": "t", "series": "s", "episode": 1},
            **change}
    assert_envelope(api.post("/api/upload/start", json=body), status, code)


def test_ten_starts_per_hour_across_both_function_processes(local_cloud: StackConfig, unique: str) -> None:
    email = f"burst-{unique}@kstream.test"
    api_as(local_cloud, "uploader", email)  # the user and token exist before the burst
    workers = _function_workers(local_cloud)
    assert len(workers) == 2
    before = {pid: _cpu_ticks(pid) for pid in workers}
    body = {"filename": "e.mp4", "totalSize": 1000, "metadata": {"title": "t", "series": "s", "episode": 1}}

    def one(_: int) -> requests.Response:
        session = api_as(local_cloud, "uploader", email).session
        return session.post(f"{local_cloud.gateway_url}/api/upload/start", json=body,
                            headers={"Connection": "close"}, timeout=60)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(one, range(12)))
    ok = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(ok) == 10, [a.text[:200] for a in answers]
    remaining = [int(a.headers["X-RateLimit-Remaining"]) for a in ok]
    assert all(0 <= r <= 9 for r in remaining) and 0 in remaining
    assert all(a.headers["X-RateLimit-Limit"] == "10" for a in answers)
    for response in refused:
        assert_envelope(response, 429, "RATE_LIMIT_EXCEEDED")
        assert 3500 <= int(response.headers["Retry-After"]) <= 3600
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert int(response.headers["X-RateLimit-Reset"]) > time.time() + 3000
    worked = {pid: _cpu_ticks(pid) - before[pid] for pid in workers}  # an idle worker uses ~0 ticks
    assert all(ticks >= 3 for ticks in worked.values()), f"one worker took every request: {worked}"


def _function_workers(cfg: StackConfig) -> list[int]:
    master = json.loads((Path(cfg.state_dir) / "pids.json").read_text())["functions"]
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# -- the chunk endpoint -----------------------------------------------------------------------------------------
def test_the_chunk_endpoint_verifies_and_reports_what_is_missing(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    data = video_bytes(3 * CHUNK - 100)
    started = start(api, data, declare=True)
    upload_id = started["uploadId"]
    pieces = chunks_of(data)
    raw = api.post(f"/api/upload/chunk/{upload_id}/2", data=pieces[2],
                   headers={"Content-Type": "application/octet-stream",
                            "X-Chunk-Checksum": hashlib.sha256(pieces[2]).hexdigest()})
    assert raw.status_code == 200, raw.text
    assert raw.json() == {"chunkIndex": 2, "received": True, "checksum": hashlib.sha256(pieces[2]).hexdigest(),
                          "missingChunks": [0, 1], "nextExpectedChunk": 0}
    mismatch = assert_envelope(
        api.post(f"/api/upload/chunk/{upload_id}/0", files={"chunk": ("c0", pieces[0])},
                 headers={"X-Chunk-Checksum": hashlib.md5(pieces[1]).hexdigest()}),
        400, "UPLOAD_CHECKSUM_MISMATCH")
    assert mismatch["details"]["actual"] == hashlib.md5(pieces[0]).hexdigest()
    assert_envelope(api.post(f"/api/upload/chunk/{upload_id}/0", files={"chunk": ("c0", pieces[0])}),
                    400, "REQUEST_INVALID")  # no X-Chunk-Checksum
    assert_envelope(api.post(f"/api/upload/chunk/{upload_id}/9", files={"chunk": ("c", pieces[0])},
                             headers={"X-Chunk-Checksum": hashlib.md5(pieces[0]).hexdigest()}),
                    400, "REQUEST_INVALID")  # no chunk 9
    multipart = api.post(f"/api/upload/chunk/{upload_id}/0", files={"chunk": ("c0", pieces[0])},
                         headers={"X-Chunk-Checksum": hashlib.md5(pieces[0]).hexdigest().upper()})
    assert multipart.status_code == 200, multipart.text
    assert multipart.json()["missingChunks"] == [1] and multipart.json()["nextExpectedChunk"] == 1
    assert put(started, 1, pieces[1]).status_code == 200  # the two paths mix
    last = api.post(f"/api/upload/chunk/{upload_id}/1", files={"chunk": ("c1", pieces[1])},
                    headers={"X-Chunk-Checksum": hashlib.md5(pieces[1]).hexdigest()})
    assert "missingChunks" not in last.json() and "nextExpectedChunk" not in last.json()
    done = api.post(f"/api/upload/complete/{upload_id}", json={"finalChecksum": crc32c_text(data)})
    assert done.status_code == 200, done.text
    assert source_blob(local_cloud, done.json()["videoId"]).download_as_bytes() == data
    assert_envelope(api.post(f"/api/upload/chunk/{upload_id}/0", files={"chunk": ("c0", pieces[0])},
                             headers={"X-Chunk-Checksum": hashlib.md5(pieces[0]).hexdigest()}),
                    400, "REQUEST_INVALID")  # completed


def test_the_chunk_endpoint_refuses_chunks_above_its_body_cap(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    started = start(api, video_bytes(1000), chunk_size=32 * 1024 * 1024)
    refused = assert_envelope(api.post(f"/api/upload/chunk/{started['uploadId']}/0", data=b"x",
                                       headers={"Content-Type": "application/octet-stream",
                                                "X-Chunk-Checksum": hashlib.md5(b"x").hexdigest()}),
                              400, "REQUEST_INVALID")
    assert refused["details"]["maxChunkSize"] == 16 * 1024 * 1024


def test_expired_uploads_are_refused_with_upload_expired(local_cloud: StackConfig, unique: str) -> None:
    api = uploader(local_cloud, unique)
    data = video_bytes(CHUNK)
    started = start(api, data)
    upload_id = started["uploadId"]
    assert put(started, 0, data).status_code == 200
    firestore.Client(project=local_cloud.project_id).collection("uploads").document(upload_id).update(
        {"expiresAt": datetime.now(UTC) - timedelta(seconds=1)})
    assert api.get(f"/api/upload/status/{upload_id}").json()["status"] == "expired"
    assert_envelope(api.post(f"/api/upload/complete/{upload_id}", json={"finalChecksum": crc32c_text(data)}),
                    410, "UPLOAD_EXPIRED")
    assert_envelope(api.post(f"/api/upload/chunk/{upload_id}/0", data=data,
                             headers={"Content-Type": "application/octet-stream",
                                      "X-Chunk-Checksum": hashlib.md5(data).hexdigest()}),
                    410, "UPLOAD_EXPIRED")
