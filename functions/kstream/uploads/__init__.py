"""Uploads (spec 3.2): chunks go straight to Cloud Storage through V4 signed URLs; the functions only sign,
check, compose and verify. ``service_for(settings)`` is the per-process service the HTTP handlers call.

    rules.py        pure checks: names, chunk arithmetic, checksum forms, container sniffing
    ratelimit.py    sliding-window arithmetic of the per-user start limit
    repository.py   Firestore: the ``uploads`` collection and ``rateLimits`` (transactions)
    chunk_store.py  the upload bucket: chunk objects, what was received, cleanup
    compose.py      the compose tree and streaming whole-file checksums
    service.py      the rules that tie them together
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .. import http
from ..adapters import firestore, storage, url_signing
from ..settings import Settings, per_settings
from .chunk_store import ChunkStore
from .repository import Upload, UploadRepository
from .service import UploadService, VideoRegistrar

__all__ = ["ChunkStore", "Upload", "UploadRepository", "UploadService", "service_for"]

@per_settings
def service_for(settings: Settings) -> UploadService:
    """The upload service of this process for ``settings`` (clients created once, on first use)."""
    client = storage.client(settings)

    def sign(bucket: str, names: Sequence[str], expires_at: datetime,
             headers: Sequence[Mapping[str, str]]) -> list[str]:
        return url_signing.signer(settings).put_urls(bucket, names, expires_at, headers)

    def log(message: str, **fields: Any) -> None:
        http.logger(settings).log("INFO", message, **fields)

    return UploadService(
        settings,
        UploadRepository(firestore.client(settings)),
        ChunkStore(client, settings.upload_bucket),
        client,
        sign,
        register_video=catalog_registrar(settings),
        log=log,
    )


def catalog_registrar(settings: Settings) -> VideoRegistrar:
    """Create the upload's video in the catalog, status processing, owned by the uploader (idempotent)."""

    def register(upload: Upload) -> None:
        from ..catalog import videos as catalog  # only complete needs the catalog: keep start's cold start lean
        from ..catalog.repository import CatalogRepository

        meta = upload.metadata
        catalog.upsert_video(
            video_id=upload.video_id,
            title=meta["title"],
            series=meta["series"],
            episode=int(meta["episode"]),
            uploader_id=upload.owner_id,
            uploader_username=upload.owner_username or upload.owner_id,
            description=meta.get("description") or "",
            file_size=upload.total_size,
            tags=meta.get("tags") or (),
            language=meta.get("language") or "ko",
            subtitle_tracks=upload.subtitle_tracks,
            status="processing",
            repo=CatalogRepository(firestore.client(settings)),
        )

    return register
