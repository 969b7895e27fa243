"""V4 chunk URLs from both signers, checked by the same verifier the local gateway runs.

The IAM path gets an injected transport that plays the IAM Credentials signBlob API (signing with a test key), so
the production code path (google.auth.iam.Signer -> signBlob -> google-cloud-storage's V4 URL) is the one tested.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from kstream.adapters import url_signing
from kstream.errors import Unavailable

from local_emulator.gcs_signed_urls import SignatureRejected, verify_v4_request

ENDPOINT = "http://127.0.0.1:8081"
EMAIL = "signer@kstream-test.iam.gserviceaccount.com"
BUCKET = "kstream-uploads"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()


def _client() -> storage.Client:
    return storage.Client(project="demo-test", credentials=AnonymousCredentials())


def _verify(url: str, headers: dict[str, str] | None = None, method: str = "PUT",
            now: datetime | None = None) -> None:
    parts = urlsplit(url)
    verify_v4_request(method=method, host=parts.netloc, path=parts.path, raw_query=parts.query,
                      headers=headers or {}, public_keys={EMAIL: KEY.public_key()}.get,
                      now=now or datetime.now(UTC))


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"type": "service_account", "client_email": EMAIL, "private_key": PEM,
                                "private_key_id": "k1", "token_uri": "https://oauth2.googleapis.com/token"}))
    return str(path)


def test_a_key_file_signs_a_put_the_gateway_accepts(key_file: str) -> None:
    signer = url_signing.key_file_signer(key_file, ENDPOINT, _client())
    url = signer.put_url(BUCKET, "uploads/u1/chunk-00000", datetime.now(UTC) + timedelta(hours=24))
    assert url.startswith(f"{ENDPOINT}/{BUCKET}/uploads/u1/chunk-00000?")
    assert "X-Goog-Expires=86400" in url or "X-Goog-Expires=8639" in url
    _verify(url, {"Content-Type": "application/octet-stream"})  # an unbound Content-Type is fine
    with pytest.raises(SignatureRejected):
        _verify(url.replace("chunk-00000", "chunk-00001"))
    with pytest.raises(SignatureRejected):
        _verify(url, method="GET")


def test_a_bound_content_md5_must_be_sent_exactly(key_file: str) -> None:
    signer = url_signing.key_file_signer(key_file, ENDPOINT, _client())
    md5 = base64.b64encode(b"0123456789abcdef").decode()
    url = signer.put_url(BUCKET, "o", datetime.now(UTC) + timedelta(minutes=5), {"Content-MD5": md5})
    _verify(url, {"Content-MD5": md5})
    with pytest.raises(SignatureRejected):
        _verify(url)
    with pytest.raises(SignatureRejected):
        _verify(url, {"Content-MD5": base64.b64encode(b"fedcba9876543210").decode()})


def test_urls_expire(key_file: str) -> None:
    signer = url_signing.key_file_signer(key_file, ENDPOINT, _client())
    url = signer.put_url(BUCKET, "o", datetime.now(UTC) + timedelta(minutes=5))
    with pytest.raises(SignatureRejected) as caught:
        _verify(url, now=datetime.now(UTC) + timedelta(minutes=6))
    assert caught.value.code == "ExpiredToken"
    with pytest.raises(ValueError):
        signer.put_url(BUCKET, "o", datetime.now(UTC) - timedelta(seconds=1))


class _Response:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.data = json.dumps(body).encode()
        self.headers: dict[str, str] = {}


class FakeIam:
    """Plays POST https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL:signBlob."""

    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        self.calls = 0
        self.fail_first = fail_first
        self.status = status
        self.lock = threading.Lock()
        self.signer = crypt.RSASigner.from_string(PEM)

    def __call__(self, url: str, method: str = "GET", body: bytes | None = None,
                 headers: dict[str, str] | None = None, **_: Any) -> _Response:
        assert method == "POST"
        assert url == f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{EMAIL}:signBlob"
        assert (headers or {}).get("authorization") == "Bearer runtime-token"
        with self.lock:
            self.calls += 1
            if self.calls <= self.fail_first:
                return _Response(self.status, {"error": {"message": "try later"}})
        payload = base64.b64decode(json.loads(body or b"{}")["payload"])
        return _Response(200, {"keyId": "k1", "signedBlob": base64.b64encode(self.signer.sign(payload)).decode()})


class RuntimeCredentials:
    """The function's runtime credentials as google-auth sees them: they add a bearer token to each call."""

    universe_domain = "googleapis.com"

    def before_request(self, request: Any, method: str, url: str, headers: dict[str, str]) -> None:
        headers["authorization"] = "Bearer runtime-token"


def test_iam_sign_blob_signs_every_chunk_url_in_parallel() -> None:
    iam = FakeIam()
    signer = url_signing.iam_signer(EMAIL, ENDPOINT, _client(), credentials=RuntimeCredentials(),  # type: ignore[arg-type]
                                    request_factory=lambda: iam)
    names = [f"uploads/u2/chunk-{i:05d}" for i in range(40)]
    urls = signer.put_urls(BUCKET, names, datetime.now(UTC) + timedelta(hours=24))
    assert iam.calls == 40
    for name, url in zip(names, urls, strict=True):
        assert f"/{BUCKET}/{name}?" in url
        _verify(url)


def test_iam_retries_server_errors_and_reports_refusals_as_unavailable() -> None:
    flaky = FakeIam(fail_first=1)
    signer = url_signing.iam_signer(EMAIL, ENDPOINT, _client(), credentials=RuntimeCredentials(),  # type: ignore[arg-type]
                                    request_factory=lambda: flaky)
    _verify(signer.put_url(BUCKET, "o", datetime.now(UTC) + timedelta(minutes=1)))
    refusing = FakeIam(fail_first=100, status=403)
    signer = url_signing.iam_signer(EMAIL, ENDPOINT, _client(), credentials=RuntimeCredentials(),  # type: ignore[arg-type]
                                    request_factory=lambda: refusing)
    with pytest.raises(Unavailable):
        signer.put_url(BUCKET, "o", datetime.now(UTC) + timedelta(minutes=1))
