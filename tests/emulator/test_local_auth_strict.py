"""Local auth is as strict as the cloud: with the Auth emulator (where firebase-admin checks neither signature nor
times), an expired, not-yet-valid, wrong-audience or wrong-issuer ID token is 401 AUTH_INVALID_TOKEN on an API
endpoint and ``{"valid": false}`` on /auth/validate, exactly as the production path answers.

Tokens are minted by the running Auth emulator for a real user, then aged or re-addressed: the emulator signs
nothing (alg none), so changing the payload is what a client clock or a token from another project amounts to.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests

from local_emulator.stack import StackConfig
from tests.helpers import assert_envelope, token_for


def _reissued(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{encoded}.{signature}"


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _variants(cfg: StackConfig) -> dict[str, str]:
    token = token_for(cfg, "user")
    now, claims = int(time.time()), _claims(token)
    return {
        "expired an hour ago": _reissued(token, iat=now - 7200, auth_time=now - 7200, exp=now - 3600),
        "expired a second ago": _reissued(token, exp=now - 1),
        "issued in the future": _reissued(token, iat=now + 600, exp=now + 4200),
        "not valid before a time to come": _reissued(token, nbf=now + 600),
        "signed in in the future": _reissued(token, auth_time=now + 600),
        "for another project (aud)": _reissued(token, aud="demo-another-project"),
        "from another project (iss)": _reissued(token, iss="https://securetoken.google.com/demo-another-project"),
        "without exp": _reissued(token, exp=None),
        "exp as text": _reissued(token, exp=str(claims["exp"])),
    }


def test_the_local_functions_verify_tokens_on_the_emulator_path(local_cloud: StackConfig) -> None:
    """What the other tests prove is the emulator path: the functions run with FIREBASE_AUTH_EMULATOR_HOST."""
    assert local_cloud.function_env().get("FIREBASE_AUTH_EMULATOR_HOST") or \
        local_cloud.emulator_env().get("FIREBASE_AUTH_EMULATOR_HOST")


def test_a_fresh_emulator_token_is_accepted(local_cloud: StackConfig) -> None:
    headers = {"Authorization": f"Bearer {token_for(local_cloud, 'user')}"}
    search = requests.get(f"{local_cloud.gateway_url}/api/metadata/videos/search", headers=headers, timeout=30)
    assert search.status_code == 200, search.text
    validated = requests.post(f"{local_cloud.gateway_url}/auth/validate", headers=headers, timeout=30)
    assert validated.status_code == 200 and validated.json()["valid"] is True


@pytest.mark.parametrize("variant", ["expired an hour ago", "expired a second ago", "issued in the future",
                                     "not valid before a time to come", "signed in in the future",
                                     "for another project (aud)", "from another project (iss)", "without exp",
                                     "exp as text"])
def test_a_token_the_cloud_refuses_is_refused_locally(local_cloud: StackConfig, variant: str) -> None:
    token = _variants(local_cloud)[variant]
    headers = {"Authorization": f"Bearer {token}"}
    search = requests.get(f"{local_cloud.gateway_url}/api/metadata/videos/search", headers=headers, timeout=30)
    assert_envelope(search, 401, "AUTH_INVALID_TOKEN")
    validated = requests.post(f"{local_cloud.gateway_url}/auth/validate", headers=headers, timeout=30)
    error = assert_envelope(validated, 401, "AUTH_INVALID_TOKEN")
    assert validated.json()["valid"] is False, validated.text
    assert "Traceback" not in error["message"]
