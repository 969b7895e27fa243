"""Firebase Auth through firebase-admin: ID-token verification, role claims, users.

With ``FIREBASE_AUTH_EMULATOR_HOST`` set, firebase-admin talks to the Auth emulator and skips signature checks
(the emulator's tokens are unsigned); the production path verifies RS256 signatures against Google's certificates,
or against ``KSTREAM_FIREBASE_CERTS_URL`` in tests that serve their own. Because that switch turns signature checks
off, it is honoured only for ``demo-*`` projects (which cannot exist in Google Cloud): a real project with the
variable set refuses every token rather than trusting unsigned ones.

firebase-admin checks the header (``kid``, ``alg`` RS256), signature, ``aud``, ``iss``, ``sub``, ``iat`` and ``exp``;
Firebase's rules also require ``auth_time`` in the past, which is checked here.
"""

from __future__ import annotations

import base64
import functools
import json
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
    except fb_auth.ExpiredIdTokenError:
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
    auth_time = claims.get("auth_time")
    if isinstance(auth_time, bool) or not isinstance(auth_time, int | float) or auth_time > time.time():
        raise InvalidToken("Invalid ID token: its auth_time (when the user signed in) must be a time in the past")
    return claims


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
