"""Roles, permissions and bearer parsing: the rules, without any token service."""

from __future__ import annotations

import base64

import pytest
from kstream import auth
from kstream.errors import InsufficientPermissions, InvalidToken
from kstream.registry import function_list


def test_permissions_grow_with_the_role() -> None:
    user, uploader, admin = (set(auth.ROLE_PERMISSIONS[r]) for r in ("user", "uploader", "admin"))
    assert user < uploader < admin
    assert "videos:upload" not in user
    assert "videos:upload" in uploader
    assert "users:manage" in admin


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer    ", "Bearer not-a-jwt",
                                    "Bearer a.b", "Bearer " + "a." * 5000 + "b", "Bearer a.b.c",
                                    "Bearer WzFd.e30.c2ln",  # a header that is a JSON list
                                    "Bearer e30." + base64.urlsafe_b64encode(b"[" * 2500 + b"]" * 2500).decode()
                                    + ".c2ln"])  # nested past the JSON parser's recursion limit
def test_malformed_authorization_is_invalid_token(header: str | None) -> None:
    with pytest.raises(InvalidToken):
        auth.bearer_token(header)


def test_bearer_token_extracted() -> None:
    assert auth.bearer_token("Bearer e30.e30.c2ln") == "e30.e30.c2ln"
    assert auth.bearer_token("bearer  e30.e30. ") == "e30.e30."


@pytest.mark.parametrize(("claims", "role"), [({}, "user"), ({"role": "uploader"}, "uploader"),
                                              ({"role": "admin"}, "admin"), ({"role": "root"}, "user")])
def test_role_comes_from_the_custom_claim_defaulting_to_user(claims: dict[str, str], role: str) -> None:
    principal = auth.principal_from_claims({"sub": "u1", "email": "a@b.c", **claims})
    assert principal.role == role
    assert principal.permissions == auth.ROLE_PERMISSIONS[role]
    assert principal.username == "a@b.c"


def test_permission_checked_against_the_function_list() -> None:
    upload = function_list().by_name("upload-start")
    viewer = auth.principal_from_claims({"sub": "u"})
    uploader = auth.principal_from_claims({"sub": "u", "role": "uploader"})
    auth.require_permission(uploader, upload)
    with pytest.raises(InsufficientPermissions, match="videos:upload"):
        auth.require_permission(viewer, upload)
    with pytest.raises(InsufficientPermissions, match="service"):
        auth.require_permission(uploader, function_list().by_name("transcode-start"))


@pytest.mark.parametrize("role", [["admin"], {"admin": True}, 1, True])
def test_a_role_claim_that_is_not_a_string_grants_a_viewers_rights(role: object) -> None:
    principal = auth.principal_from_claims({"sub": "u1", "role": role})
    assert principal.role == "user" and principal.permissions == auth.ROLE_PERMISSIONS["user"]


def test_the_auth_emulator_switch_is_refused_for_a_real_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIREBASE_AUTH_EMULATOR_HOST turns signature checks off: honoured for demo-* projects only."""
    from kstream.adapters import firebase_auth
    from kstream.errors import ConfigurationError
    from kstream.settings import Settings

    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")
    unsigned = _unsigned({"iss": "https://securetoken.google.com/kstream-prod", "aud": "kstream-prod",
                          "sub": "attacker", "role": "admin", "iat": 1, "exp": 4_000_000_000, "auth_time": 1})
    with pytest.raises(ConfigurationError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        firebase_auth.verify_id_token(unsigned, Settings(project_id="kstream-prod"))


def _unsigned(claims: dict[str, object], header: dict[str, object] | None = None) -> str:
    import json

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part(header or {'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


# -- service OIDC tokens: algorithm confusion and key lookup ---------------------------------------------------


@pytest.fixture
def oidc(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], object]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from kstream.adapters import service_identity
    from kstream.settings import Settings

    from local_emulator import keys

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"private_key": pem, "private_key_id": "k1", "client_email": "pipeline@demo-x.iam.gserviceaccount.com"}
    certs = keys.oidc_certs(info)
    monkeypatch.setattr(service_identity, "_certs", lambda url: certs)
    settings = Settings(project_id="demo-x", service_audience="https://api.example", oidc_issuers="https://issuer",
                        service_accounts=info["client_email"])
    return info, settings


def _service_claims(email: str) -> dict[str, object]:
    import time

    now = int(time.time())
    return {"iss": "https://issuer", "aud": "https://api.example", "email": email, "email_verified": True,
            "iat": now, "exp": now + 600}


def test_a_well_signed_service_token_is_accepted(oidc: tuple[dict[str, str], object]) -> None:
    from google.auth import crypt, jwt
    from kstream.adapters import service_identity

    info, settings = oidc
    token = jwt.encode(crypt.RSASigner.from_service_account_info(info), _service_claims(info["client_email"]),
                       key_id="k1").decode()
    assert service_identity.verify_service_token(token, settings) == info["client_email"]  # type: ignore[arg-type]


@pytest.mark.parametrize("case", ["alg none", "HS256 keyed with the certificate", "unknown kid",
                                  "email not verified", "no iat"])
def test_service_tokens_resist_algorithm_confusion(oidc: tuple[dict[str, str], object], case: str) -> None:
    import hashlib
    import hmac
    import json

    from google.auth import crypt, jwt
    from kstream.adapters import service_identity

    from local_emulator import keys

    info, settings = oidc
    claims = _service_claims(info["client_email"])
    signer = crypt.RSASigner.from_service_account_info(info)
    if case == "alg none":
        token = _unsigned(claims, {"alg": "none", "kid": "k1"})
    elif case == "HS256 keyed with the certificate":
        head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "k1"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
        mac = hmac.new(keys.certificate_pem(info).encode(), head + b"." + body, hashlib.sha256).digest()
        token = (head + b"." + body + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    elif case == "unknown kid":
        token = jwt.encode(signer, claims, key_id="k2").decode()
    elif case == "email not verified":
        token = jwt.encode(signer, {**claims, "email_verified": "true"}, key_id="k1").decode()
    else:
        token = jwt.encode(signer, {k: v for k, v in claims.items() if k != "iat"}, key_id="k1").decode()
    with pytest.raises(InvalidToken):
        service_identity.verify_service_token(token, settings)  # type: ignore[arg-type]
