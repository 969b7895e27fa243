"""Firebase Auth through firebase-admin: ID-token verification, role claims, users.

With ``FIREBASE_AUTH_EMULATOR_HOST`` set, firebase-admin talks to the Auth emulator and checks only ``aud``,
``iss`` and ``sub``: no signature (the emulator's tokens are unsigned) and no times, so an expired token would pass.
The production path verifies RS256 signatures against Google's certificates, or against
``KSTREAM_FIREBASE_CERTS_URL`` in tests that serve their own. Because the switch turns signature checks off, it is
honoured only for ``demo-*`` projects (which cannot exist in Google Cloud): a real project with the variable set
refuses every token rather than trusting unsigned ones.

On both paths the claims are then checked here as Firebase documents them (:func:`check_claims`): ``aud`` is the
project, ``iss`` is ``https://securetoken.google.com/<project>``, ``exp`` in the future, ``iat`` and ``nbf`` (when
present) and ``auth_time`` in the past. In production firebase-admin has already checked all but ``nbf`` and
``auth_time``; locally this is what makes an expired, not-yet-valid or wrong-audience token a 401 as in the cloud.
Only the signature stays unchecked locally (tests/emulator/test_auth_tokens.py proves the signed path).

Revocation (a disabled user, or a token issued before the user's sessions were revoked) is checked against the
user record, fetched through :mod:`.auth_revocation`: now by default, or, inside :func:`revocation_bound`, from a
per-user cache at most that many seconds old (``KSTREAM_REVOCATION_CACHE_SECONDS``; kstream/auth.py decides which,
from the function list's ``check_revoked``). Signature and claims are verified on every call either way, against
certificates firebase-admin caches as long as Google's ``Cache-Control`` allows (no network call per token).
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, InvalidToken, Unavailable
from ..settings import Settings, per_settings
from .auth_revocation import RevocationCache, UserStatus

if TYPE_CHECKING:
    import firebase_admin

FIREBASE_ISSUER_PREFIX = "https://securetoken.google.com/"
EMULATOR_VARIABLE = "FIREBASE_AUTH_EMULATOR_HOST"
DEMO_PROJECT_PREFIX = "demo-"
_REFUSALS = {
    "not found": "The ID token's user no longer exists",
    "disabled": "The user account is disabled",
    "revoked": "The ID token has been revoked: sign in again",
}
# How old a user record verify_id_token may trust (seconds; 0: fetch it now). Set per request by
# kstream/auth.py through revocation_bound(); a context variable, so threads and requests never share it.
_MAX_AGE: ContextVar[float] = ContextVar("kstream_revocation_max_age", default=0.0)


@contextmanager
def revocation_bound(seconds: float) -> Iterator[None]:
    """Within this block, :func:`verify_id_token` checks revocation against a user record looked up at most
    ``seconds`` ago (the per-user cache) instead of looking it up now."""
    reset = _MAX_AGE.set(seconds)
    try:
        yield
    finally:
        _MAX_AGE.reset(reset)


_apps: dict[tuple[str, str], firebase_admin.App] = {}
_apps_lock = threading.Lock()


def _app(project_id: str, certs_url: str) -> firebase_admin.App:
    """The firebase-admin app of a project, made once per process: under a lock, because the first requests of a
    fresh instance arrive together, and a second ``initialize_app`` of one name raises (seen under load as 401s
    "Firebase app named ... already exists" while functools.cache let two threads in)."""
    app = _apps.get((project_id, certs_url))
    if app is None:
        with _apps_lock:
            app = _apps.get((project_id, certs_url))
            if app is None:
                app = _apps[(project_id, certs_url)] = _new_app(project_id, certs_url)
    return app


def _new_app(project_id: str, certs_url: str) -> firebase_admin.App:
    import firebase_admin  # imported on first use: it is the heaviest import of the auth path
    from firebase_admin import auth as fb_auth

    app = firebase_admin.initialize_app(options={"projectId": project_id}, name=f"kstream:{project_id}:{certs_url}")
    verifier = getattr(fb_auth._get_client(app), "_token_verifier", None)
    if verifier is not None:  # firebase-admin 7.x: certificates from memory (see CertificatesInMemory)
        verifier.request = CertificatesInMemory(verifier.request)
        if certs_url:
            # Test seam: the production verification path against certificates served by a local HTTP server.
            verifier.id_token_verifier.cert_url = certs_url
    return app


class CertificatesInMemory:
    """firebase-admin's certificate request, answered from memory while the answer's ``Cache-Control: max-age``
    lasts (Google serves the securetoken certificates for hours), fetched again after.

    firebase-admin caches the certificates too, but behind requests and CacheControl: every verification then pays
    for a whole HTTP request from cache (proxy settings read from the environment, the session's request
    preparation, the cached answer deserialised), about 1.2 ms of CPU against 0.3 ms for the RS256 check itself
    (docs/decisions/0011). Anything but a GET goes to the wrapped request untouched."""

    def __init__(self, fetch: Any, clock: Any = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._kept: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None, timeout: Any = None,
                 **kwargs: Any) -> Any:
        if method != "GET" or body is not None:
            return self._fetch(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        now = self._clock()
        kept = self._kept.get(url)
        if kept is not None and kept[0] > now:
            return kept[1]
        response = self._fetch(url, method=method, headers=headers, timeout=timeout, **kwargs)
        lifetime = max_age(response.headers.get("Cache-Control", "")) if response.status == 200 else 0
        if lifetime > 0:
            with self._lock:
                self._kept[url] = (now + lifetime, response)
        return response


def max_age(cache_control: str) -> int:
    """Seconds of ``max-age`` in a Cache-Control header (0 when absent, malformed or ``no-store``/``no-cache``)."""
    directives = [part.strip().lower() for part in cache_control.split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age" and value.strip().isdigit():
            return int(value.strip())
    return 0


def app_for(settings: Settings) -> firebase_admin.App:
    return _app(settings.project_id, settings.firebase_certs_url)


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload without any verification, for routing decisions only (never for trust)."""
    try:
        payload = token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, RecursionError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def looks_like_firebase_token(token: str) -> bool:
    return str(unverified_claims(token).get("iss", "")).startswith(FIREBASE_ISSUER_PREFIX)


def verify_id_token(token: str, settings: Settings) -> dict[str, Any]:
    """Verified claims of a Firebase ID token; InvalidToken for bad, expired, revoked or disabled.

    Signature (production) and claims are checked on every call; revocation against the user record fetched now,
    or inside :func:`revocation_bound` through the per-user cache."""
    from firebase_admin import auth as fb_auth

    if os.environ.get(EMULATOR_VARIABLE) and not settings.project_id.startswith(DEMO_PROJECT_PREFIX):
        raise ConfigurationError(f"{EMULATOR_VARIABLE} is set for project {settings.project_id!r}: ID-token "
                                 "signatures would not be checked, so no token is accepted (emulators serve demo-* "
                                 "projects only)")
    try:
        claims = dict(fb_auth.verify_id_token(token, app=app_for(settings)))  # no lookup: revocation is below
    except fb_auth.ExpiredIdTokenError:  # production path; the emulator path meets expiry in check_claims
        raise InvalidToken("The ID token has expired: sign in again to get a fresh one") from None
    except fb_auth.CertificateFetchError:
        raise Unavailable("Cannot fetch the token signing certificates; try again shortly") from None
    except (fb_auth.InvalidIdTokenError, ValueError) as exc:
        raise InvalidToken(f"Invalid ID token: {_first_sentence(exc)}") from None
    check_claims(claims, settings.project_id, time.time())
    status = revocations(settings).status(str(claims["uid"]), _MAX_AGE.get())
    refusal = status.refusal(float(claims["iat"]))
    if refusal is not None:
        raise InvalidToken(_REFUSALS[refusal])
    return claims


@per_settings
def revocations(settings: Settings) -> RevocationCache:
    """The process's per-user revocation cache for these settings."""
    return RevocationCache(functools.partial(user_status, settings=settings))


def user_status(uid: str, settings: Settings) -> UserStatus:
    """The revocation-relevant part of the user record (one Identity Toolkit ``accounts:lookup``)."""
    from firebase_admin import auth as fb_auth
    from firebase_admin import exceptions as fb_exceptions

    try:
        user = fb_auth.get_user(uid, app=app_for(settings))
    except fb_auth.UserNotFoundError:
        return UserStatus(exists=False)
    except fb_exceptions.FirebaseError as exc:
        raise Unavailable(f"Firebase Auth is unreachable: {exc.code}") from None
    return UserStatus(exists=True, disabled=bool(user.disabled),
                      valid_after_ms=int(user.tokens_valid_after_timestamp or 0))


def check_claims(claims: dict[str, Any], project_id: str, now: float) -> None:
    """The audience, issuer and times of an ID token's claims; InvalidToken naming the first that is wrong."""
    if claims.get("aud") != project_id:
        raise InvalidToken(f"Invalid ID token: its audience (aud) must be {project_id!r}")
    if claims.get("iss") != FIREBASE_ISSUER_PREFIX + project_id:
        raise InvalidToken(f"Invalid ID token: its issuer (iss) must be {FIREBASE_ISSUER_PREFIX + project_id!r}")
    expires = _time_claim(claims, "exp", required=True)
    if expires is not None and expires <= now:
        raise InvalidToken("The ID token has expired: sign in again to get a fresh one")
    for name, meaning in (("iat", "issued"), ("nbf", "valid"), ("auth_time", "the user signed in")):
        moment = _time_claim(claims, name, required=name != "nbf")
        if moment is not None and moment > now:
            raise InvalidToken(f"Invalid ID token: its {name} (when {meaning}) must be a time in the past")


def _time_claim(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"Invalid ID token: its {name} claim must be a number of seconds since 1970")
    return float(value)


def set_role(email: str, role: str, settings: Settings) -> str:
    """Give the user with ``email`` the ``role`` claim, keeping their other claims; returns the uid."""
    from firebase_admin import auth as fb_auth

    app = app_for(settings)
    user = fb_auth.get_user_by_email(email, app=app)
    claims = dict(user.custom_claims or {})
    claims["role"] = role
    fb_auth.set_custom_user_claims(user.uid, claims, app=app)
    return str(user.uid)


def _first_sentence(exc: Exception) -> str:
    text = str(exc).split(". ")[0].strip()
    return text[:200] or exc.__class__.__name__
