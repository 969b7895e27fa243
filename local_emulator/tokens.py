"""Bearer tokens for the running local cloud: Firebase users of a role (Auth emulator) and service identities."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from .stack import StackConfig

DEMO_PASSWORD = "kstream-local-password"
API_KEY = "local-emulator-key"  # the Auth emulator accepts any API key


def _post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise RuntimeError(f"Auth emulator refused {url.rsplit('/', 1)[-1]}: {exc.code} {detail[:300]}") from None


def _toolkit(cfg: StackConfig, method: str) -> str:
    return f"http://127.0.0.1:{cfg.auth_port}/identitytoolkit.googleapis.com/v1/{method}?key={API_KEY}"


def ensure_user(cfg: StackConfig, email: str, role: str | None, display_name: str | None = None) -> str:
    """Create the user if new, set its role claim; returns the uid."""
    try:
        found = _post(_toolkit(cfg, "accounts:signInWithPassword"),
                      {"email": email, "password": DEMO_PASSWORD, "returnSecureToken": True})
        uid = str(found["localId"])
    except RuntimeError:
        created = _post(_toolkit(cfg, "accounts:signUp"), {"email": email, "password": DEMO_PASSWORD,
                                                           "displayName": display_name or email.split("@")[0],
                                                           "returnSecureToken": True})
        uid = str(created["localId"])
    if role is not None:
        url = (f"http://127.0.0.1:{cfg.auth_port}/identitytoolkit.googleapis.com/v1/projects/{cfg.project_id}"
               f"/accounts:update")
        _post(url, {"localId": uid, "customAttributes": json.dumps({"role": role})}, token="owner")
    return uid


def user_token(cfg: StackConfig, role: str, email: str | None = None) -> str:
    """A fresh ID token of a user with ``role`` (``user``/``uploader``/``admin``) from the Auth emulator."""
    email = email or f"{role}@kstream.local"
    ensure_user(cfg, email, role)
    signed_in = _post(_toolkit(cfg, "accounts:signInWithPassword"),
                      {"email": email, "password": DEMO_PASSWORD, "returnSecureToken": True})
    return str(signed_in["idToken"])


def service_token(cfg: StackConfig, email: str | None = None, audience: str | None = None) -> str:
    """An OIDC token of the local pipeline service account, as Google would mint it in the cloud."""
    from . import keys

    info = json.loads(cfg.signing_key_file.read_text())
    return keys.mint_service_token(info, issuer=cfg.oidc_issuer, audience=audience or cfg.gateway_url,
                                   email=email or cfg.pipeline_service_email)


def emulator_env(cfg: StackConfig) -> None:
    os.environ.update(cfg.emulator_env())
