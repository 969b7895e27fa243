"""The production token path, proven without Google.

The Auth emulator accepts unsigned tokens, so it proves nothing about forgeries. Here Firebase ID tokens are
signed with a test key whose certificate a local HTTP server publishes (as Google publishes securetoken's), and
firebase-admin verifies them with signature checks on (no FIREBASE_AUTH_EMULATOR_HOST at verification time).
User records (for revocation) come from the real Auth emulator. Service OIDC tokens go through the gateway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import firebase_admin.auth as fb_auth
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt
from kstream.adapters import firebase_auth
from kstream.errors import InvalidToken
from kstream.settings import Settings

from local_emulator import keys, tokens
from local_emulator.stack import StackConfig
from tests.helpers import api_as, assert_envelope


def _service_account(email: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"private_key": pem, "private_key_id": f"test-{id(key):x}", "client_email": email}


TRUSTED = _service_account("securetoken@system.gserviceaccount.com")
FORGER = {**_service_account("securetoken@system.gserviceaccount.com"), "private_key_id": TRUSTED["private_key_id"]}


@pytest.fixture(scope="module")
def certs_url() -> Iterator[str]:
    body = json.dumps(keys.oidc_certs(TRUSTED)).encode()

    class Certs(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "public, max-age=60")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Certs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()


@pytest.fixture
def production_settings(local_cloud: StackConfig, certs_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = Settings(project_id=local_cloud.project_id, firebase_certs_url=certs_url)
    # The app's user manager (revocation lookups) is bound to the Auth emulator at creation...
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{local_cloud.auth_port}")
    firebase_auth.app_for(settings)
    fb_auth._get_client(firebase_auth.app_for(settings))
    # ...while verification runs with the emulator switch off: signatures are checked as in production.
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST")
    return settings


def _firebase_token(signer_info: dict[str, str], project: str, uid: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "user_id": uid,
        "auth_time": now,
        "iat": now,  # not before the user's creation: the emulator sets validSince then
        "exp": now + 3600,
        "role": "uploader",
        "firebase": {"sign_in_provider": "password"},
    }
    claims.update(overrides)
    claims = {key: value for key, value in claims.items() if value is not None}
    signer = crypt.RSASigner.from_service_account_info(signer_info)
    return jwt.encode(signer, claims, key_id=signer_info["private_key_id"]).decode()


def _retyped(token: str, alg: str, signature: bytes) -> str:
    """``token`` with its header's ``alg`` replaced (kid kept) and ``signature`` as its third part."""
    header, payload, _ = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    new_header = base64.urlsafe_b64encode(json.dumps({**fields, "alg": alg}).encode()).rstrip(b"=").decode()
    return f"{new_header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _hs256_with_certificate(token: str) -> str:
    """The classic confusion: HMAC the token with the published certificate as the secret."""
    unsigned = _retyped(token, "HS256", b"")
    signing_input = unsigned.rsplit(".", 1)[0].encode()
    mac = hmac.new(keys.certificate_pem(TRUSTED).encode(), signing_input, hashlib.sha256).digest()
    return _retyped(token, "HS256", mac)


def test_a_properly_signed_token_is_accepted(local_cloud: StackConfig, production_settings: Settings,
                                             unique: str) -> None:
    uid = tokens.ensure_user(local_cloud, f"signed-{unique}@kstream.local", "uploader")
    claims = firebase_auth.verify_id_token(_firebase_token(TRUSTED, local_cloud.project_id, uid),
                                           production_settings)
    assert claims["uid"] == uid
    assert claims["role"] == "uploader"


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("forged signature", "Invalid ID token"),
        ("expired", "expired"),
        ("wrong audience", "audience"),
        ("wrong issuer", "issuer"),
        ("unsigned", "Invalid ID token"),
        ("alg none", "algorithm"),
        ("HS256 keyed with the certificate", "algorithm"),
        ("unknown kid", "Invalid ID token"),
        ("auth_time in the future", "auth_time"),
        ("no auth_time", "auth_time"),
        ("issued in the future", "Invalid ID token"),
    ],
)
def test_forged_or_stale_tokens_are_refused(local_cloud: StackConfig, production_settings: Settings,
                                            unique: str, case: str, fragment: str) -> None:
    uid = tokens.ensure_user(local_cloud, f"bad-{unique}@kstream.local", "user")
    project = local_cloud.project_id
    now = int(time.time())
    token = {
        "forged signature": lambda: _firebase_token(FORGER, project, uid),
        "expired": lambda: _firebase_token(TRUSTED, project, uid, iat=now - 7200, auth_time=now - 7200,
                                           exp=now - 3600),
        "wrong audience": lambda: _firebase_token(TRUSTED, project, uid, aud="demo-other-project"),
        "wrong issuer": lambda: _firebase_token(TRUSTED, project, uid, iss="https://securetoken.google.com/evil"),
        "unsigned": lambda: tokens.user_token(local_cloud, "user", f"bad-{unique}@kstream.local"),
        "alg none": lambda: _retyped(_firebase_token(TRUSTED, project, uid), "none", b""),
        "HS256 keyed with the certificate": lambda: _hs256_with_certificate(_firebase_token(TRUSTED, project, uid)),
        "unknown kid": lambda: _firebase_token({**TRUSTED, "private_key_id": "no-such-key"}, project, uid),
        "auth_time in the future": lambda: _firebase_token(TRUSTED, project, uid, auth_time=now + 3600),
        "no auth_time": lambda: _firebase_token(TRUSTED, project, uid, auth_time=None),
        "issued in the future": lambda: _firebase_token(TRUSTED, project, uid, iat=now + 3600),
    }[case]()
    with pytest.raises(InvalidToken, match=fragment):
        firebase_auth.verify_id_token(token, production_settings)


def test_revoked_sessions_are_refused(local_cloud: StackConfig, production_settings: Settings, unique: str) -> None:
    uid = tokens.ensure_user(local_cloud, f"revoked-{unique}@kstream.local", "uploader")
    old_token = _firebase_token(TRUSTED, local_cloud.project_id, uid)
    firebase_auth.verify_id_token(old_token, production_settings)  # valid before revocation
    time.sleep(1.1)  # revocation has one-second resolution
    fb_auth.revoke_refresh_tokens(uid, app=firebase_auth.app_for(production_settings))
    with pytest.raises(InvalidToken, match="revoked"):
        firebase_auth.verify_id_token(old_token, production_settings)


# -- service identities, through the gateway ------------------------------------------------------------


def _service_token(cfg: StackConfig, info: dict[str, str], **overrides: Any) -> str:
    params = {"issuer": cfg.oidc_issuer, "audience": cfg.gateway_url, "email": cfg.pipeline_service_email}
    params.update(overrides)
    return keys.mint_service_token(info, **params)


def _validate(cfg: StackConfig, token: str, uri: str) -> Any:
    import requests

    return requests.post(f"{cfg.gateway_url}/auth/validate", timeout=10,
                         headers={"Authorization": f"Bearer {token}", "X-Original-URI": uri})


def test_service_token_reaches_service_endpoints(local_cloud: StackConfig) -> None:
    info = json.loads(local_cloud.signing_key_file.read_text())
    response = _validate(local_cloud, _service_token(local_cloud, info), "/api/v1/transcode/status/j1")
    assert response.status_code == 200, response.text
    assert response.headers["X-User-Role"] == "service"


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("forged", 401, "AUTH_INVALID_TOKEN"),
        ("wrong audience", 401, "AUTH_INVALID_TOKEN"),
        ("wrong issuer", 401, "AUTH_INVALID_TOKEN"),
        ("not allow-listed", 403, "AUTH_INSUFFICIENT_PERMISSIONS"),
        ("expired", 401, "AUTH_INVALID_TOKEN"),
    ],
)
def test_bad_service_tokens_are_refused(local_cloud: StackConfig, case: str, status: int, code: str) -> None:
    info = json.loads(local_cloud.signing_key_file.read_text())
    forger = {**_service_account(local_cloud.signer_email), "private_key_id": info["private_key_id"]}
    token = {
        "forged": lambda: _service_token(local_cloud, forger),
        "wrong audience": lambda: _service_token(local_cloud, info, audience="https://elsewhere.example"),
        "wrong issuer": lambda: _service_token(local_cloud, info, issuer="https://accounts.evil.example"),
        "not allow-listed": lambda: _service_token(local_cloud, info, email="intruder@demo.iam.gserviceaccount.com"),
        "expired": lambda: _service_token(local_cloud, info, lifetime_seconds=-120),
    }[case]()
    assert_envelope(_validate(local_cloud, token, "/api/transcode/start"), status, code)


def test_user_token_on_a_service_route_is_403(local_cloud: StackConfig) -> None:
    response = api_as(local_cloud, "admin").post("/auth/validate",
                                                 headers={"X-Original-URI": "/api/metadata/videos",
                                                          "X-Original-Method": "POST"})
    assert_envelope(response, 403, "AUTH_INSUFFICIENT_PERMISSIONS")


def test_disabled_users_are_refused(local_cloud: StackConfig, production_settings: Settings, unique: str) -> None:
    uid = tokens.ensure_user(local_cloud, f"disabled-{unique}@kstream.local", "admin")
    token = _firebase_token(TRUSTED, local_cloud.project_id, uid, role="admin")
    firebase_auth.verify_id_token(token, production_settings)
    fb_auth.update_user(uid, disabled=True, app=firebase_auth.app_for(production_settings))
    with pytest.raises(InvalidToken, match="disabled"):
        firebase_auth.verify_id_token(token, production_settings)
