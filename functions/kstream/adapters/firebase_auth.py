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
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import time
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, InvalidToken, Unavailable
from ..settings import Settings

if TYPE_CHECKING:
    import firebase_admin

FIREBASE_ISSUER_PREFIX = "https://securetoken.google.com/"
EMULATOR_VARIABLE = "FIREBASE_AUTH_EMULATOR_HOST"
DEMO_PROJECT_PREFIX = "demo-"


@functools.cache
def _app(project_id: str, certs_url: str) -> firebase_admin.App:
    import firebase_admin  # imported on first use: it is the heaviest import of the auth path
    from firebase_admin import auth as fb_auth

    app = firebase_admin.initialize_app(options={"projectId": project_id}, name=f"kstream:{project_id}:{certs_url}")
    if certs_url:
        # Test seam: the production verification path against certificates served by a local HTTP server.
        fb_auth._get_client(app)._token_verifier.id_token_verifier.cert_url = certs_url
    return app


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
    """Verified claims of a Firebase ID token; InvalidToken for bad, expired, revoked or disabled."""
    from firebase_admin import auth as fb_auth
    from firebase_admin import exceptions as fb_exceptions

    if os.environ.get(EMULATOR_VARIABLE) and not settings.project_id.startswith(DEMO_PROJECT_PREFIX):
        raise ConfigurationError(f"{EMULATOR_VARIABLE} is set for project {settings.project_id!r}: ID-token "
                                 "signatures would not be checked, so no token is accepted (emulators serve demo-* "
                                 "projects only)")
    try:
        claims = dict(fb_auth.verify_id_token(token, app=app_for(settings), check_revoked=True))
    except fb_auth.ExpiredIdTokenError:  # production path; the emulator path meets expiry in check_claims
        raise InvalidToken("The ID token has expired: sign in again to get a fresh one") from None
    except fb_auth.RevokedIdTokenError:
        raise InvalidToken("The ID token has been revoked: sign in again") from None
    except fb_auth.UserDisabledError:
        raise InvalidToken("The user account is disabled") from None
    except fb_auth.UserNotFoundError:
        raise InvalidToken("The ID token's user no longer exists") from None
    except fb_auth.CertificateFetchError:
        raise Unavailable("Cannot fetch the token signing certificates; try again shortly") from None
    except (fb_auth.InvalidIdTokenError, ValueError) as exc:
        raise InvalidToken(f"Invalid ID token: {_first_sentence(exc)}") from None
    except fb_exceptions.FirebaseError as exc:
        raise Unavailable(f"Firebase Auth is unreachable: {exc.code}") from None
    check_claims(claims, settings.project_id, time.time())
    return claims


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
