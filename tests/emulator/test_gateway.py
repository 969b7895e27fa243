"""The gateway as clients meet it: API routing from the function list, versions, errors, metrics, and the
Cloud Storage front end that checks V4 signed URLs before fake-gcs-server (which checks none)."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from local_emulator.stack import StackConfig
from tests.emulator.test_catalog_api import seed
from tests.helpers import api_as, assert_envelope, token_for


def test_validate_answers_the_contract_for_an_uploader(local_cloud: StackConfig) -> None:
    response = api_as(local_cloud, "uploader").post("/auth/validate",
                                                    headers={"X-Original-URI": "/api/v1/upload/start"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True
    assert body["user"]["role"] == "uploader" == response.headers["X-User-Role"]
    assert body["user"]["id"] == response.headers["X-User-ID"]
    assert response.headers["X-User-Permissions"].split(",") == body["user"]["permissions"]
    assert "videos:upload" in body["user"]["permissions"]


@pytest.mark.parametrize(
    ("role", "uri", "status"),
    [
        ("user", "/api/upload/start", 403),
        ("user", "/api/v1/videos/abc", 200),
        ("uploader", "/api/upload/complete/u1", 200),
        ("admin", "/api/transcode/start", 403),
        ("user", "/api/no/such/thing", 403),
    ],
)
def test_validate_checks_the_original_uri_against_the_role(local_cloud: StackConfig, role: str, uri: str,
                                                           status: int) -> None:
    response = api_as(local_cloud, role).post("/auth/validate", headers={"X-Original-URI": uri})
    assert response.status_code == status, response.text
    if status == 403:
        assert_envelope(response, 403, "AUTH_INSUFFICIENT_PERMISSIONS")
        assert response.json()["valid"] is False


@pytest.mark.parametrize("header", [None, "Bearer garbage", "Basic dXNlcjpwYXNz",
                                    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln"])
def test_missing_malformed_or_foreign_tokens_are_401(local_cloud: StackConfig, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.post(f"{local_cloud.gateway_url}/auth/validate", headers=headers, timeout=10)
    assert_envelope(response, 401, "AUTH_INVALID_TOKEN")
    assert response.json()["valid"] is False


def test_versioned_and_latest_paths_route_alike(local_cloud: StackConfig) -> None:
    api = api_as(local_cloud, "user")
    latest = api.get("/api/videos/does-not-exist")
    versioned = api.get("/api/v1/videos/does-not-exist")
    by_header = api.get("/api/videos/does-not-exist", headers={"Accept-Version": "v1"})
    assert latest.status_code == versioned.status_code == by_header.status_code
    assert latest.json()["error"]["code"] == versioned.json()["error"]["code"] == by_header.json()["error"]["code"]


def test_unknown_versions_are_400_not_404(local_cloud: StackConfig) -> None:
    api = api_as(local_cloud, "uploader")
    assert_envelope(api.get("/api/v2/videos/x"), 400, "API_VERSION_UNSUPPORTED")
    assert_envelope(api.get("/api/videos/x", headers={"Accept-Version": "v3"}), 400, "API_VERSION_UNSUPPORTED")


def test_unknown_routes_and_methods_get_the_envelope(local_cloud: StackConfig) -> None:
    api = api_as(local_cloud, "user")
    assert_envelope(api.get("/api/nothing/here"), 404, "ROUTE_NOT_FOUND")
    assert_envelope(api.request("DELETE", "/auth/validate"), 405, "METHOD_NOT_ALLOWED")


def test_request_id_travels_through_the_gateway(local_cloud: StackConfig) -> None:
    sent = "trace-me-12345"
    response = api_as(local_cloud, "user").post("/auth/validate", headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] == sent
    generated = api_as(local_cloud, "user").get("/api/v2/videos/x")
    assert generated.json()["error"]["requestId"] == generated.headers["X-Request-ID"]


def _raw_get(cfg: StackConfig, target: bytes, token: str) -> tuple[bytes, bytes]:
    """One GET whose request line is sent byte for byte (requests would percent-encode it): (status line, body)."""
    with socket.create_connection(("127.0.0.1", cfg.gateway_port), timeout=30) as conn:
        conn.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                     + token.encode() + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        while piece := conn.recv(65536):
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


def test_raw_utf8_in_the_query_is_taken_as_curl_sends_it(local_cloud: StackConfig, unique: str) -> None:
    """`curl ".../search?q=사랑"` sends the UTF-8 bytes unescaped; it must find what the escaped form finds."""
    seed(local_cloud, f"u8{unique}", title=f"사랑의 불시착 {unique}", tags=[f"t{unique}"])
    token = token_for(local_cloud, "user")
    raw_status, raw_body = _raw_get(local_cloud, f"/api/metadata/videos/search?q=사랑&tags=t{unique}".encode(),
                                    token)
    escaped = f"/api/metadata/videos/search?q={quote('사랑')}&tags=t{unique}".encode()
    escaped_status, escaped_body = _raw_get(local_cloud, escaped, token)
    assert raw_status.endswith(b"200 OK") and escaped_status.endswith(b"200 OK"), (raw_status, raw_body[:300])
    found = json.loads(raw_body)
    assert [video["id"] for video in found["videos"]] == [f"u8{unique}"]
    assert found == json.loads(escaped_body)


def test_bad_bodies_get_the_envelope_from_every_json_endpoint(local_cloud: StackConfig) -> None:
    api = api_as(local_cloud, "uploader")
    error = assert_envelope(api.post("/api/upload/start", data="{oops", headers={"Content-Type": "application/json"}),
                            400, "REQUEST_INVALID")
    assert "Malformed JSON" in error["message"]


def test_latency_metrics_by_route_and_status(local_cloud: StackConfig) -> None:
    api_as(local_cloud, "user").post("/auth/validate")
    text = requests.get(f"{local_cloud.gateway_url}/_emulator/metrics", timeout=10).text
    assert 'http_request_duration_seconds_count{method="POST",route="/auth/validate",status_code="200"}' in text


# -- the Cloud Storage front end ---------------------------------------------------------------------------


def _signed(cfg: StackConfig, name: str, method: str = "PUT", expires: timedelta = timedelta(minutes=10),
            **kwargs: object) -> str:
    info = json.loads(cfg.signing_key_file.read_text())
    credentials = service_account.Credentials.from_service_account_info(info)
    client = storage.Client(project=cfg.project_id, credentials=AnonymousCredentials())
    blob = client.bucket(cfg.upload_bucket).blob(name)
    return str(blob.generate_signed_url(version="v4", method=method, expiration=expires, credentials=credentials,
                                        api_access_endpoint=cfg.storage_url, **kwargs))


def test_signed_put_then_get_round_trip(local_cloud: StackConfig, unique: str) -> None:
    name = f"gateway-test/{unique}/chunk 0 파일"
    put = requests.put(_signed(local_cloud, name), data=b"hello chunk",
                       headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert put.status_code == 200, put.text
    got = requests.get(_signed(local_cloud, name, "GET"), timeout=10)
    assert got.status_code == 200 and got.content == b"hello chunk"


def test_tampered_expired_and_unsigned_requests_are_refused(local_cloud: StackConfig, unique: str) -> None:
    url = _signed(local_cloud, f"gateway-test/{unique}/x")
    tampered = url.replace(f"/{unique}/x", f"/{unique}/y")
    assert requests.put(tampered, data=b"x", timeout=10).status_code == 403
    assert "SignatureDoesNotMatch" in requests.put(url + "&extra=1", data=b"x", timeout=10).text
    expired = _signed(local_cloud, f"gateway-test/{unique}/old", expires=timedelta(seconds=1))
    import time

    time.sleep(2)
    refused = requests.put(expired, data=b"x", timeout=10)
    assert refused.status_code == 400 and "ExpiredToken" in refused.text
    unsigned = requests.put(f"{local_cloud.storage_url}/{local_cloud.upload_bucket}/gateway-test/{unique}/z",
                            data=b"x", timeout=10)
    assert unsigned.status_code == 403 and "AccessDenied" in unsigned.text


def test_bound_content_md5_is_enforced(local_cloud: StackConfig, unique: str) -> None:
    good = b"the real chunk"
    md5 = base64.b64encode(hashlib.md5(good).digest()).decode()
    url = _signed(local_cloud, f"gateway-test/{unique}/md5", content_md5=md5)
    corrupted = requests.put(url, data=b"the real chunK", headers={"Content-MD5": md5}, timeout=10)
    assert corrupted.status_code == 400 and "BadDigest" in corrupted.text
    assert requests.put(url, data=good, headers={"Content-MD5": md5}, timeout=10).status_code == 200
    no_header = requests.put(url, data=good, timeout=10)
    assert no_header.status_code in (400, 403)


def test_cors_preflight_allows_browser_puts(local_cloud: StackConfig) -> None:
    response = requests.options(f"{local_cloud.storage_url}/{local_cloud.upload_bucket}/any",
                                headers={"Origin": "http://127.0.0.1:8080", "Access-Control-Request-Method": "PUT",
                                         "Access-Control-Request-Headers": "content-type,content-md5"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8080"
    assert "PUT" in response.headers["Access-Control-Allow-Methods"]
    assert "content-md5" in response.headers["Access-Control-Allow-Headers"]


def test_one_signed_url_writes_one_object_of_one_bucket(local_cloud: StackConfig, unique: str) -> None:
    """Scope: the signature covers method, bucket, object and every query parameter; nothing else is reachable."""
    name = f"uploads/{unique}/chunk-00000"
    url = _signed(local_cloud, name)
    other_chunk = url.replace("/chunk-00000?", "/chunk-00001?")
    other_bucket = url.replace(f"/{local_cloud.upload_bucket}/", f"/{local_cloud.media_bucket}/")
    for target in (other_chunk, other_bucket):
        refused = requests.put(target, data=b"x", timeout=10)
        assert refused.status_code == 403 and "SignatureDoesNotMatch" in refused.text
    assert requests.get(url, timeout=10).status_code == 403  # a PUT URL reads nothing
    extension = requests.put(url, data=b"x", headers={"x-goog-if-generation-match": "0"}, timeout=10)
    assert extension.status_code == 400 and "MalformedSecurityHeader" in extension.text  # unsigned x-goog-*
    escaped = url.replace(f"/{unique}/", f"/{unique}/%2E%2E/", 1)
    assert requests.put(escaped, data=b"x", timeout=10).status_code == 403
    assert requests.put(url, data=b"x", timeout=10).status_code == 200


def test_the_query_is_decoded_once_as_cloud_storage_does(local_cloud: StackConfig, unique: str) -> None:
    """``%252F`` is the three characters ``%2F`` to Cloud Storage, not a slash: a URL whose query only matches its
    signature after a second decoding is not the URL that was signed."""
    url = _signed(local_cloud, f"gateway-test/{unique}/twice")
    assert "X-Goog-Credential=" in url and "%2F" in url
    head, _, query = url.partition("?")
    doubled = "&".join(item.replace("%2F", "%252F") if item.startswith("X-Goog-Credential=") else item
                       for item in query.split("&"))
    refused = requests.put(f"{head}?{doubled}", data=b"x", timeout=10)
    assert refused.status_code in (400, 403), refused.text
    assert requests.put(url, data=b"x", timeout=10).status_code == 200


def test_a_header_that_is_not_text_is_a_400_not_a_crash(local_cloud: StackConfig) -> None:
    """Found by schemathesis: a Range header of raw non-UTF-8 bytes crashed the relay (500)."""
    import socket

    port = int(local_cloud.gateway_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /api/stream/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: \xd7\x95;\xe4\r\n"
                     b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head[:200]
    assert b'"REQUEST_INVALID"' in body and b"Range" in body
