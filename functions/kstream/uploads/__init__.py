"""Uploads (spec 3.2): chunks go straight to Cloud Storage through V4 signed URLs; the functions only sign,
check, compose and verify. ``service_for(settings)`` is the per-process service the HTTP handlers call.
"""

from __future__ import annotations

import threading

from ..adapters import firestore, storage, url_signing
from ..settings import Settings
from .chunk_store import ChunkStore
from .repository import Upload, UploadRepository
from .service import UploadService

__all__ = ["ChunkStore", "Upload", "UploadRepository", "UploadService", "service_for"]

_services: dict[int, UploadService] = {}
_lock = threading.Lock()


def service_for(settings: Settings) -> UploadService:
    """The upload service of this process for ``settings`` (clients created once, on first use)."""
    key = id(settings)
    with _lock:
        found = _services.get(key)
        if found is None:
            client = storage.client(settings)

            def sign(bucket: str, names: list[str], expires_at, headers):  # type: ignore[no-untyped-def]
                return url_signing.signer(settings).put_urls(bucket, names, expires_at, headers)

            found = _services[key] = UploadService(
                settings,
                UploadRepository(firestore.client(settings)),
                ChunkStore(client, settings.upload_bucket),
                client,
                sign,
                register_video=_catalog_registrar(),
            )
        return found


def _catalog_registrar():  # type: ignore[no-untyped-def]
    return None
