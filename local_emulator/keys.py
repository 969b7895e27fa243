"""Local stand-ins for Google-held keys: the URL-signing service account, the local OIDC issuer, the CDN key.

In the cloud these never exist as files: URLs are signed through IAM signBlob, OIDC tokens are minted by Google
and the CDN key lives in Secret Manager. Locally one RSA key plays the service account: the functions sign V4 URLs
with it, the gateway verifies them with its public half, and the local OIDC issuer signs service tokens with it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt


def ensure_signing_key(path: Path, client_email: str) -> dict[str, str]:
    """The local service-account key at ``path``, created once (kept across runs so URLs stay valid)."""
    if path.exists():
        info: dict[str, str] = json.loads(path.read_text())
        if info.get("client_email") == client_email:
            return info
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_id = hashlib.sha1(pem.encode()).hexdigest()  # noqa: S324 (an identifier, not security)
    info = {
        "type": "service_account",
        "project_id": client_email.split("@")[1].split(".")[0],
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": client_email,
        "client_id": str(int(key_id[:15], 16)),
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
    os.chmod(path, 0o600)
    return info


def ensure_cdn_key(path: Path) -> str:
    """A Cloud CDN signing key (16 random bytes, base64url) as Cloud CDN hands them out."""
    if path.exists():
        return path.read_text().strip()
    value = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)
    os.chmod(path, 0o600)
    return value


def certificate_pem(info: dict[str, str]) -> str:
    """A self-signed X.509 certificate of the key, in the shape of Google's oauth2/v1/certs entries."""
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, info["client_email"])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def oidc_certs(info: dict[str, str]) -> dict[str, str]:
    return {info["private_key_id"]: certificate_pem(info)}


def mint_service_token(info: dict[str, str], *, issuer: str, audience: str, email: str,
                       lifetime_seconds: int = 3600) -> str:
    """An OIDC ID token as Google mints for a service account, signed by the local issuer's key."""
    now = int(time.time())
    signer = crypt.RSASigner.from_service_account_info(info)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": str(abs(hash(email)) % 10**21),
        "azp": email,
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + lifetime_seconds,
    }
    return jwt.encode(signer, claims, key_id=info["private_key_id"]).decode()
