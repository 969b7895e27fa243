"""Revocation on the real Auth emulator: a revoked user's ID token is refused by a write at once and by a read within
the bound (``KSTREAM_REVOCATION_CACHE_SECONDS``).

Sessions are revoked as Firebase does it, by moving the user's ``validSince`` past the token's ``iat`` (the Admin
SDK's ``revoke_refresh_tokens`` sets it to now; here it is set to ``iat + 1`` so no test waits for a clock second).
The write is proven through the gateway against the running functions (functions.yaml's ``check_revoked``); the read
bound with the same wrapper in this process, whose settings a test can choose (a 1 s bound), its user lookups going
to the same Auth emulator.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import flask
import pytest
import requests
from kstream import http as khttp
from kstream.settings import Settings

from local_emulator import tokens
from local_emulator.stack import StackConfig
from tests.helpers import assert_envelope


def _iat(token: str) -> int:
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iat"])


def _revoke(cfg: StackConfig, uid: str, token: str) -> None:
    """Revoke every session of ``uid`` that began before or with ``token``."""
    url = (f"http://127.0.0.1:{cfg.auth_port}/identitytoolkit.googleapis.com/v1/projects/{cfg.project_id}"
           "/accounts:update")
    body = json.dumps({"localId": uid, "validSince": str(_iat(token) + 1)}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": "Bearer owner"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _user(cfg: StackConfig, unique: str, role: str) -> tuple[str, str]:
    email = f"revoked-{role}-{unique}@kstream.local"
    uid = tokens.ensure_user(cfg, email, role)
    return uid, tokens.user_token(cfg, role, email)


def test_a_write_refuses_a_revoked_token_at_once(local_cloud: StackConfig, unique: str) -> None:
    uid, token = _user(local_cloud, unique, "uploader")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    start = f"{local_cloud.gateway_url}/api/upload/start"
    # Accepted: the token passes and the (empty) body is what is refused, with nothing written.
    assert_envelope(requests.post(start, data=b"{}", headers=headers, timeout=30), 400, "REQUEST_INVALID")
    _revoke(local_cloud, uid, token)
    refused = requests.post(start, data=b"{}", headers=headers, timeout=30)
    error = assert_envelope(refused, 401, "AUTH_INVALID_TOKEN")
    assert "revoked" in error["message"]


# -- the read bound, with the functions' wrapper in this process -------------------------------------------------
@pytest.fixture
def emulated_auth(local_cloud: StackConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{local_cloud.auth_port}")
    yield


def _settings(cfg: StackConfig, bound: int, unique: str) -> Settings:
    """The settings of one process; a firebase-admin app of its own (the certificates URL is unused on the emulator
    path), created while FIREBASE_AUTH_EMULATOR_HOST is set."""
    return Settings(project_id=cfg.project_id, revocation_cache_seconds=bound,
                    firebase_certs_url=f"http://127.0.0.1:9/revocation-{bound}-{unique}")


def _client(name: str, settings: Settings) -> flask.testing.FlaskClient:
    def handler(request: khttp.ApiRequest) -> dict[str, Any]:
        return {"user": request.user.id}

    entry = khttp.http_function(name, handler, settings=lambda: settings)
    app = flask.Flask(f"revocation-{name}")
    app.add_url_rule("/<path:path>", "entry", lambda path: entry(flask.request), methods=["GET", "PUT"])
    return app.test_client()


@pytest.mark.usefixtures("emulated_auth")
def test_a_read_trusts_a_looked_up_user_for_the_bound(local_cloud: StackConfig, unique: str) -> None:
    uid, token = _user(local_cloud, unique, "user")
    headers = {"Authorization": f"Bearer {token}"}
    settings = _settings(local_cloud, 60, unique)
    read = _client("video-get", settings)
    assert read.get("/api/videos/any", headers=headers).status_code == 200
    _revoke(local_cloud, uid, token)
    # Within the 60 s bound the read trusts what it looked up (no Identity Toolkit call per viewer request)...
    assert read.get("/api/videos/any", headers=headers).status_code == 200
    # ...while a write of the same process looks the user up now, and its answer reaches the reads at once.
    write = _client("subtitle-put", settings)
    assert write.put("/api/videos/any/subtitles/ko", headers=headers).status_code == 401
    assert read.get("/api/videos/any", headers=headers).status_code == 401


@pytest.mark.usefixtures("emulated_auth")
def test_a_read_refuses_a_revoked_token_within_the_bound(local_cloud: StackConfig, unique: str) -> None:
    bound = 1
    uid, token = _user(local_cloud, unique, "user")
    headers = {"Authorization": f"Bearer {token}"}
    read = _client("video-get", _settings(local_cloud, bound, unique))
    assert read.get("/api/videos/any", headers=headers).status_code == 200
    _revoke(local_cloud, uid, token)
    revoked_at = time.monotonic()
    while True:
        answer = read.get("/api/videos/any", headers=headers)
        if answer.status_code != 200:
            break
        assert time.monotonic() - revoked_at <= bound + 5, "still accepted well past the bound"
        time.sleep(0.05)
    refused_after = time.monotonic() - revoked_at
    assert answer.status_code == 401 and "revoked" in answer.get_json()["error"]["message"], answer.text
    # the last accepted read used a record looked up before the revocation, at most `bound` earlier; one lookup's
    # time (an emulator round trip) is the slack
    assert refused_after <= bound + 2, refused_after
