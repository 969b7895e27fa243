"""Who is calling and what they may do: roles, permissions and the rules every endpoint applies.

Users are Firebase Auth users; their role is the custom claim ``role`` (default ``user``). Permissions derive from
the role through one table, ``ROLE_PERMISSIONS``. Service endpoints accept only Google-signed OIDC tokens of an
allow-listed service account (locally: the local issuer's tokens, verified by the same code).

Every request's ID token is verified (signature and claims) by the process itself. Whether its user was revoked
or disabled since is looked up now by the functions whose entry in functions.yaml says ``check_revoked: true``
(uploads, metadata and subtitle writes: where a stolen session does lasting harm) and, everywhere else, taken from
a per-user cache no older than ``KSTREAM_REVOCATION_CACHE_SECONDS`` (60 s at most): a revoked user is refused by a
write at once and by every function within that bound, without an Identity Toolkit lookup per viewer request.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from typing import Literal

from contracts import text

from .errors import ConfigurationError, InsufficientPermissions, InvalidToken
from .registry import FUNCTIONS_FILE, FunctionSpec
from .settings import Settings

ROLES = ("user", "uploader", "admin")
DEFAULT_ROLE = "user"

_VIEWER = ("videos:read", "videos:stream")
_UPLOADER = (*_VIEWER, "videos:upload")
_ADMIN = (*_UPLOADER, "videos:manage", "users:manage")
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {"user": _VIEWER, "uploader": _UPLOADER, "admin": _ADMIN}
USERNAME_MAX = 256  # contracts/metadata.py: CreateVideoMetadataRequest.uploaderUsername


@dataclass(frozen=True)
class Principal:
    id: str
    username: str
    role: str
    permissions: tuple[str, ...]
    kind: Literal["user", "service"] = "user"

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def is_admin(self) -> bool:
        return self.kind == "user" and self.role == "admin"


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; InvalidToken when missing or malformed."""
    if not authorization:
        raise InvalidToken("Missing Authorization header: expected 'Bearer <Firebase ID token>'")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("Malformed Authorization header: expected 'Bearer <token>'")
    if token.count(".") != 2 or len(token) > 8192:
        raise InvalidToken("Malformed bearer token: expected a JWT (three dot-separated parts)")
    header, payload, _ = token.split(".")
    if not (_is_json_object(header) and _is_json_object(payload)):  # before any verifier parses them
        raise InvalidToken("Malformed bearer token: its header and payload must be base64url-encoded JSON objects")
    return token


def _is_json_object(segment: str) -> bool:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return False
    return isinstance(value, dict)


def principal_from_claims(claims: dict[str, object]) -> Principal:
    role = claims.get("role") or DEFAULT_ROLE
    if not isinstance(role, str) or role not in ROLE_PERMISSIONS:
        # An unknown claim grants nothing beyond a viewer's rights; it is not an error of the caller's token.
        role = DEFAULT_ROLE
    uid = str(claims.get("uid") or claims.get("sub"))
    return Principal(id=uid, username=display_name(claims, uid), role=str(role),
                     permissions=ROLE_PERMISSIONS[str(role)])


def display_name(claims: dict[str, object], uid: str) -> str:
    """The first of the token's ``name`` and ``email`` that passes the text rule (contracts/text.py) within
    ``USERNAME_MAX`` characters, else the uid: the name is stored as ``uploader.username`` when an upload completes,
    so a profile name the catalogue would refuse must not reach it."""
    for candidate in (claims.get("name"), claims.get("email")):
        if not isinstance(candidate, str):
            continue
        try:
            return text.bounded(text.clean(candidate), 1, USERNAME_MAX)
        except ValueError:
            continue
    return uid


def authenticate_user(authorization: str | None, settings: Settings, *, check_revoked: bool = False) -> Principal:
    """The Firebase user of a bearer ID token, verified. ``check_revoked``: look the user's revocation up now;
    otherwise the per-user cache answers, at most ``settings.revocation_cache_seconds`` old."""
    from .adapters import firebase_auth  # adapters load on first use, keeping cold starts short

    token = bearer_token(authorization)
    with firebase_auth.revocation_bound(0 if check_revoked else settings.revocation_cache_seconds):
        claims = firebase_auth.verify_id_token(token, settings)
    return principal_from_claims(claims)


def checks_revocation(spec: FunctionSpec) -> bool:
    """Whether ``spec`` looks its caller's revocation up on every request (``check_revoked: true`` in the list)."""
    return spec.name in _revocation_checked()


@functools.cache
def _revocation_checked() -> frozenset[str]:
    """The functions whose entry in functions.yaml says ``check_revoked: true``; only ``user`` or ``service``
    functions may (a public one has no caller to check)."""
    import yaml

    with FUNCTIONS_FILE.open(encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe loaders)
    names = set()
    for item in raw.get("functions") or []:
        flag = item.get("check_revoked", False)
        if not isinstance(flag, bool) or (flag and item.get("access", "public") == "public"):
            raise ConfigurationError(f"{FUNCTIONS_FILE.name}: {item.get('name')}: check_revoked must be true or "
                                     "false, and only on functions with a caller (access user or service)")
        if flag:
            names.add(str(item["name"]))
    return frozenset(names)


def authenticate_service(authorization: str | None, settings: Settings) -> Principal:
    """A service identity. A valid *user* token here is a 403 (known caller, wrong kind); anything else a 401."""
    from .adapters import firebase_auth, service_identity

    token = bearer_token(authorization)
    if firebase_auth.looks_like_firebase_token(token):
        authenticate_user(authorization, settings)  # raises 401 if it is not even a valid user token
        raise InsufficientPermissions("This endpoint accepts only service identities, not user tokens")
    email = service_identity.verify_service_token(token, settings)
    return Principal(id=email, username=email, role="service", permissions=(), kind="service")


def authenticate(spec: FunctionSpec, authorization: str | None, settings: Settings) -> Principal | None:
    """Who calls a function (None for public ones), before any permission is checked (the access rule of the
    function list is ``authenticate`` then :func:`check_access`, as http.py applies it), so that a caller refused
    by :func:`check_access` is still known (request logs carry their id). A valid user token on a service endpoint
    is that user; :func:`check_access` then refuses it (403)."""
    if spec.access == "public":
        return None
    if spec.access == "service":
        from .adapters import firebase_auth

        if firebase_auth.looks_like_firebase_token(bearer_token(authorization)):
            return authenticate_user(authorization, settings, check_revoked=checks_revocation(spec))
        return authenticate_service(authorization, settings)
    return authenticate_user(authorization, settings, check_revoked=checks_revocation(spec))


def check_access(principal: Principal | None, spec: FunctionSpec) -> None:
    """The function's access rule for an authenticated caller: its permission for users, service identities only
    where the function list says ``access: service``."""
    if principal is not None and (principal.kind == "user" or spec.access != "service"):
        require_permission(principal, spec)


def require_permission(principal: Principal, spec: FunctionSpec) -> None:
    if spec.access == "service":
        raise InsufficientPermissions(f"{spec.http.path if spec.http else spec.name} accepts only service identities")
    if spec.permission and not principal.can(spec.permission):
        raise InsufficientPermissions(
            f"Role '{principal.role}' lacks permission '{spec.permission}'",
            details={"role": principal.role, "required": spec.permission},
        )
