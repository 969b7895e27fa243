"""V4 signed URLs for Cloud Storage, signed by a service account that never hands out a key file.

    signer(settings) -> UrlSigner        once per process
    UrlSigner.put_urls(bucket, names, expires_at, headers) -> [url, ...]

In the cloud the string to sign goes to the IAM Credentials ``signBlob`` API, called with the function's runtime
credentials for ``KSTREAM_SIGNER_EMAIL`` (empty: the runtime's own service account, which then needs
``roles/iam.serviceAccountTokenCreator`` on itself). One signBlob call per URL, so many URLs are signed in
parallel. Locally (``KSTREAM_SIGNING_KEY_FILE`` set) a service-account JSON key signs in-process, and the local
gateway's storage front verifies with its public half.

Either way the URL itself is built by google-cloud-storage's ``generate_signed_url(version="v4")`` with
``api_access_endpoint = KSTREAM_STORAGE_PUBLIC_URL``: we only supply a ``Signing`` credential whose ``sign_bytes``
is the key or signBlob. The storage client stays anonymous under the emulator (see adapters/storage.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
from google.auth import crypt, iam
from google.cloud import storage as gcs

from ..errors import ConfigurationError, Unavailable
from ..settings import Settings
from . import storage

__all__ = ["UrlSigner", "iam_signer", "key_file_signer", "signer"]

SignBytes = Callable[[bytes], bytes]
_CLOUD_PLATFORM = ("https://www.googleapis.com/auth/cloud-platform",)
_IAM_PARALLELISM = 16  # concurrent signBlob calls when signing many URLs


class _SigningCredentials(google.auth.credentials.Signing):
    """What ``generate_signed_url(credentials=...)`` needs: an email and a way to sign bytes."""

    def __init__(self, email: str, sign: SignBytes) -> None:
        self._email = email
        self._sign = sign

    def sign_bytes(self, message: bytes) -> bytes:
        return self._sign(message)

    @property
    def signer_email(self) -> str:
        return self._email

    @property
    def signer(self) -> crypt.Signer:  # pragma: no cover - the library only calls sign_bytes
        raise NotImplementedError


class UrlSigner:
    """Signs V4 URLs as ``email`` for clients reaching storage at ``endpoint``."""

    def __init__(self, email: str, sign: SignBytes, endpoint: str, client: gcs.Client, parallelism: int = 1) -> None:
        self.email = email
        self.endpoint = endpoint.rstrip("/")
        self._credentials = _SigningCredentials(email, sign)
        self._client = client
        self._parallelism = max(1, parallelism)

    def put_url(self, bucket: str, name: str, expires_at: datetime, headers: Mapping[str, str] | None = None) -> str:
        """A URL allowing one ``PUT`` of object ``name`` until ``expires_at``; the request must send ``headers``."""
        lifetime = expires_at - datetime.now(UTC)
        if lifetime <= timedelta(0):
            raise ValueError(f"expires_at {expires_at.isoformat()} is in the past")
        blob = self._client.bucket(bucket).blob(name)
        try:
            return str(blob.generate_signed_url(
                version="v4",
                method="PUT",
                expiration=lifetime,
                credentials=self._credentials,
                api_access_endpoint=self.endpoint,
                headers=dict(headers or {}),  # the library adds to the dict it is given
            ))
        except google.auth.exceptions.GoogleAuthError as exc:
            raise Unavailable(f"Cannot sign upload URLs right now ({exc.__class__.__name__}); try again shortly"
                              ) from None

    def put_urls(self, bucket: str, names: Sequence[str], expires_at: datetime,
                 headers: Sequence[Mapping[str, str]] | None = None) -> list[str]:
        """``put_url`` for each name (with ``headers[i]``), in order; in parallel when each signature is a call."""
        per_name = list(headers) if headers is not None else [{}] * len(names)
        if len(per_name) != len(names):
            raise ValueError(f"{len(names)} names but {len(per_name)} header sets")
        jobs = list(zip(names, per_name, strict=True))
        if self._parallelism == 1 or len(jobs) < 2:
            return [self.put_url(bucket, name, expires_at, head) for name, head in jobs]
        with ThreadPoolExecutor(max_workers=min(self._parallelism, len(jobs)), thread_name_prefix="sign") as pool:
            return list(pool.map(lambda job: self.put_url(bucket, job[0], expires_at, job[1]), jobs))


def key_file_signer(path: str, endpoint: str, client: gcs.Client) -> UrlSigner:
    """Local: sign with the private key of a service-account JSON file."""
    try:
        key = crypt.RSASigner.from_service_account_file(path)
        with open(path, encoding="utf-8") as handle:
            email = str(json.load(handle)["client_email"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"KSTREAM_SIGNING_KEY_FILE {path!r} is not a service-account key: {exc}") from None
    return UrlSigner(email, key.sign, endpoint, client)


def iam_signer(email: str, endpoint: str, client: gcs.Client, *,
               credentials: google.auth.credentials.Credentials,
               request_factory: Callable[[], Any] = google.auth.transport.requests.Request) -> UrlSigner:
    """Cloud: sign through IAM Credentials signBlob as ``email``, authenticated by ``credentials``.

    ``request_factory`` makes the HTTP transport (one per signing thread); tests inject one that answers signBlob.
    """
    local = threading.local()

    def sign(message: bytes) -> bytes:
        blob_signer = getattr(local, "signer", None)
        if blob_signer is None:
            blob_signer = local.signer = iam.Signer(request_factory(), credentials, email)
        return bytes(blob_signer.sign(message))

    return UrlSigner(email, sign, endpoint, client, parallelism=_IAM_PARALLELISM)


def _runtime_email(credentials: google.auth.credentials.Credentials) -> str:
    """The runtime service account's email (the metadata server says ``default`` until refreshed)."""
    email = str(getattr(credentials, "service_account_email", "") or "")
    if email in ("", "default"):
        credentials.refresh(google.auth.transport.requests.Request())
        email = str(getattr(credentials, "service_account_email", "") or "")
    if not email or email == "default":
        raise ConfigurationError("KSTREAM_SIGNER_EMAIL is empty and the runtime credentials name no service account")
    return email


_signers: dict[tuple[str, str, str, str], UrlSigner] = {}
_signers_lock = threading.Lock()


def signer(settings: Settings) -> UrlSigner:
    """The process's URL signer for ``settings``, created on first use and then kept."""
    key = (settings.signing_key_file, settings.signer_email, settings.storage_public_url, settings.project_id)
    with _signers_lock:
        found = _signers.get(key)
        if found is None:
            found = _signers[key] = _build(settings, storage.client(settings))
        return found


def _build(settings: Settings, client: gcs.Client) -> UrlSigner:
    if settings.signing_key_file:
        return key_file_signer(settings.signing_key_file, settings.storage_public_url, client)
    try:
        credentials, _ = google.auth.default(scopes=_CLOUD_PLATFORM)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise ConfigurationError(f"No runtime credentials to sign upload URLs with: {exc}") from None
    email = settings.signer_email or _runtime_email(credentials)
    return iam_signer(email, settings.storage_public_url, client, credentials=credentials)
