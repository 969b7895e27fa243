"""Service identities: Google-signed OIDC ID tokens of allow-listed service accounts.

In the cloud the caller (Cloud Scheduler, Pub/Sub push, another function) presents an ID token minted by Google
for the API's audience; we verify its RS256 signature against Google's certificates, its issuer, audience, expiry,
``email_verified`` and the allow-list. Locally the same code runs against the local issuer's certificates
(``KSTREAM_OIDC_CERTS_URL``), so the production path is the tested path.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import google.auth.exceptions
import requests
from google.auth import jwt

from ..errors import InsufficientPermissions, InvalidToken, Unavailable
from ..settings import Settings

_CERTS_TTL_SECONDS = 300
_certs_lock = threading.Lock()
_certs_cache: dict[str, tuple[float, dict[str, str]]] = {}
_session = requests.Session()


def _certs(url: str) -> dict[str, str]:
    now = time.monotonic()
    with _certs_lock:
        cached = _certs_cache.get(url)
        if cached and cached[0] > now:
            return cached[1]
    try:
        response = _session.get(url, timeout=5)
        response.raise_for_status()
        certs = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable(f"Cannot fetch OIDC certificates: {exc.__class__.__name__}") from None
    with _certs_lock:
        _certs_cache[url] = (now + _CERTS_TTL_SECONDS, certs)
    return dict(certs)


def verify_service_token(token: str, settings: Settings) -> str:
    """The verified service-account email of an OIDC token; InvalidToken or InsufficientPermissions otherwise."""
    if not settings.service_audience:
        raise Unavailable("Service authentication is not configured (KSTREAM_SERVICE_AUDIENCE is empty)")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, certs=_certs(settings.oidc_certs_url), audience=settings.service_audience, clock_skew_in_seconds=10
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        raise InvalidToken(f"Invalid service token: {str(exc).split('.')[0][:200]}") from None
    if claims.get("iss") not in settings.oidc_issuers:
        raise InvalidToken(f"Service token issuer {claims.get('iss')!r} is not accepted")
    email = str(claims.get("email") or "")
    if not email or claims.get("email_verified") is not True:
        raise InvalidToken("Service token carries no verified email")
    if email not in settings.service_accounts:
        raise InsufficientPermissions(f"Service account {email} is not allowed to call this endpoint")
    return email
