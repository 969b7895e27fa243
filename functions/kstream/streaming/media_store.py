"""The media bucket as the stream function reads it: small manifests only (video bytes go through the CDN)."""

from __future__ import annotations

from typing import Protocol

import requests
from google.api_core import exceptions as google_exceptions
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from ..errors import ErrorCode, Unavailable
from .manifests import MAX_MANIFEST_BYTES, ManifestError

__all__ = ["GcsMediaStore", "MediaStore"]

TIMEOUT_SECONDS = 10.0
_RETRY = DEFAULT_RETRY.with_timeout(TIMEOUT_SECONDS)


class MediaStore(Protocol):
    def read_text(self, name: str) -> str | None:
        """The object's text (UTF-8), None when it does not exist; ManifestError when too large or not text."""

    def exists(self, name: str) -> bool: ...


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable("The media store did not answer; try again shortly", code=ErrorCode.SYSTEM_UNAVAILABLE,
                       details={"reason": type(exc).__name__})


class GcsMediaStore:
    """Reads from one bucket; a stuck or failing Cloud Storage becomes a 503, never a hung request."""

    def __init__(self, bucket: storage.Bucket, limit: int = MAX_MANIFEST_BYTES) -> None:
        self.bucket = bucket
        self.limit = limit

    def read_text(self, name: str) -> str | None:
        blob = self.bucket.blob(name)
        try:
            # One byte past the limit tells "exactly at the limit" from "larger"; the object is never read whole
            # when it is large.
            data = blob.download_as_bytes(start=0, end=self.limit, checksum=None, timeout=TIMEOUT_SECONDS,
                                          retry=_RETRY)
        except google_exceptions.NotFound:
            return None
        except google_exceptions.RequestRangeNotSatisfiable:
            data = b""  # an empty object
        except (google_exceptions.GoogleAPIError, requests.RequestException) as exc:
            raise _unavailable(exc) from exc
        if len(data) > self.limit:
            raise ManifestError(f"{name} is larger than {self.limit} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError(f"{name} is not UTF-8 text") from None

    def exists(self, name: str) -> bool:
        try:
            return bool(self.bucket.blob(name).exists(timeout=TIMEOUT_SECONDS, retry=_RETRY))
        except (google_exceptions.GoogleAPIError, requests.RequestException) as exc:
            raise _unavailable(exc) from exc
