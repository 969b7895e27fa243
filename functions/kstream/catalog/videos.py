"""Videos: get one (visibility applies) and every write of a video — create/update, ready, failed, subtitle tracks,
delete. Every write is ONE transaction over the video and its series documents (kstream.catalog.series).

The pipeline calls :func:`upsert_video` (create or update, idempotent on the id), :func:`mark_ready`,
:func:`mark_failed`; the metadata endpoint :func:`upsert_from_request`; admins :func:`delete_video`.
Firestore access goes through :mod:`kstream.catalog.repository` only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from contracts.metadata import CreateVideoMetadataRequest, VideoMetadata

from ..errors import ErrorCode, InsufficientPermissions, NotFound
from ..validation import validate
from .documents import (
    F_MEDIA,
    F_SUBTITLE_TRACKS,
    READ_FIELDS,
    VIDEO_ID,
    ready_tracks,
    request_of,
    stored_video,
    to_metadata,
)
from .repository import F_SERIES_KEY, F_STATUS, F_SUBTITLE_KEYS, F_UPLOAD_DATE, CatalogRepository, TransactionView
from .series import series_entry, settle_series
from .visibility import FAILED, PLAYABLE, READY, Viewer

if TYPE_CHECKING:
    from ..auth import Principal

__all__ = [
    "delete_video",
    "get_video",
    "mark_failed",
    "mark_ready",
    "set_subtitle_tracks",
    "upsert_from_request",
    "upsert_video",
]


def _write(repo: CatalogRepository, video_id: str,
           change: Callable[[dict[str, Any] | None, datetime], dict[str, Any] | None]) -> dict[str, Any] | None:
    """Apply ``change(old_doc, now) -> new_doc | None (delete)`` to one video and keep its series (old and new)
    consistent, in one transaction. Returns the new document."""

    def work(view: TransactionView) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        old = view.get_video(video_id)
        new = change(old, now)
        if new is not None:
            new = {**new, "videoId": video_id, "id": video_id}
        keys = list(dict.fromkeys(d[F_SERIES_KEY] for d in (old, new) if d is not None))
        stored = {key: view.get_series(key) for key in keys}
        outcome: dict[str, dict[str, Any] | None] = {}
        for key in keys:  # every read happens here, before the first write
            entries = [dict(e) for e in (stored[key] or {}).get("episodes", []) if e.get("videoId") != video_id]
            if new is not None and new[F_SERIES_KEY] == key:
                entries.append(series_entry(new))
            outcome[key] = settle_series(view, key, entries, stored[key], new, now)
        if new is None:
            view.delete_video(video_id)
        else:
            view.set_video(video_id, new)
        for key, document in outcome.items():
            if document is None:
                view.delete_series(key)
            else:
                view.set_series(key, document)
        return new

    return repo.in_transaction(work)


def _default_repo() -> CatalogRepository:
    from ..adapters import firestore as firestore_adapter
    from ..settings import get_settings

    return CatalogRepository(firestore_adapter.client(get_settings()))


def upsert_from_request(repo: CatalogRepository, request: CreateVideoMetadataRequest, *,
                        initial_tracks: Sequence[Mapping[str, Any]] = ()) -> VideoMetadata:
    """Create or update a video from a validated request; idempotent on ``videoId``.

    A new video gets ``request.status`` or ``ready`` and ``initial_tracks`` (subtitle tracks attached during its
    upload); an existing one keeps its status unless one is given, its ``uploadDate`` and its subtitle tracks."""

    def change(old: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        status = request.status or (old or {}).get(F_STATUS) or READY
        upload_date = (old or {}).get(F_UPLOAD_DATE) or now
        tracks = (old or {}).get(F_SUBTITLE_TRACKS) or initial_tracks
        return stored_video(request, status=status, upload_date=upload_date, now=now, tracks=tracks,
                               media=(old or {}).get(F_MEDIA))

    written = _write(repo, request.videoId, change)
    assert written is not None
    return to_metadata(written)


def upsert_video(
    *,
    video_id: str,
    title: str,
    series: str,
    episode: int,
    uploader_id: str,
    uploader_username: str,
    description: str = "",
    duration: float = 0.0,
    file_size: int = 0,
    available_qualities: Sequence[str] = (),
    thumbnail_url: str = "",
    streaming_urls: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
    language: str = "ko",
    subtitle_tracks: Sequence[Mapping[str, Any]] = (),
    status: Literal["processing", "ready", "failed"] | None = None,
    repo: CatalogRepository | None = None,
) -> VideoMetadata:
    """Create or update a video's metadata and its series, in one transaction; idempotent on ``video_id``.

    The upload pipeline calls this with ``status="processing"`` when an upload completes (the video is then visible
    to its uploader and admins only), then :func:`mark_ready` or :func:`mark_failed`. Values are validated like
    the metadata endpoint's body (RequestInvalid, 400, on a bad one). ``status=None`` keeps an existing video's
    status (new videos: ``ready``). Returns the stored metadata.
    """
    request = validate(CreateVideoMetadataRequest, {
        "videoId": video_id, "title": title, "series": series, "episode": episode, "description": description,
        "duration": duration, "fileSize": file_size, "uploaderId": uploader_id,
        "uploaderUsername": uploader_username, "availableQualities": list(available_qualities),
        "thumbnailUrl": thumbnail_url, "streamingUrls": dict(streaming_urls or {"hls": ""}), "tags": list(tags),
        "language": language, "status": status,
    }, where="video")
    return upsert_from_request(repo or _default_repo(), request, initial_tracks=subtitle_tracks)


def _existing(video_id: str, old: dict[str, Any] | None) -> dict[str, Any]:
    if old is None:
        raise NotFound(f"No video {video_id!r}", code=ErrorCode.STREAM_VIDEO_NOT_FOUND, details={"videoId": video_id})
    return old


def mark_ready(
    *,
    video_id: str,
    available_qualities: Sequence[str],
    streaming_urls: Mapping[str, str],
    thumbnail_url: str | None = None,
    duration: float | None = None,
    file_size: int | None = None,
    publish_tracks: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    media: Mapping[str, Any] | None = None,
    repo: CatalogRepository | None = None,
) -> VideoMetadata:
    """The transcode finished: store the renditions and make the video visible to everyone (its series'
    ``availableEpisodes`` gains its episode in the same transaction). ``publish_tracks(tracks) -> tracks`` turns
    the subtitle tracks stored with the video into ready ones (it may run again if the transaction is retried).
    NotFound (404) for an unknown video."""

    def change(old: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        doc = _existing(video_id, old)
        request = request_of(doc, availableQualities=list(available_qualities), streamingUrls=dict(streaming_urls),
                              thumbnailUrl=thumbnail_url, duration=duration, fileSize=file_size)
        tracks = [dict(t) for t in doc.get(F_SUBTITLE_TRACKS) or []]
        if publish_tracks is not None:
            tracks = publish_tracks(tracks)
        return stored_video(request, status=READY, upload_date=doc.get(F_UPLOAD_DATE) or now, now=now,
                               tracks=tracks, media={**(doc.get(F_MEDIA) or {}), **(media or {})})

    written = _write(repo or _default_repo(), video_id, change)
    assert written is not None
    return to_metadata(written)


def mark_playable(*, video_id: str, progress: int, available_qualities: Sequence[str],
                  streaming_urls: Mapping[str, str], repo: CatalogRepository | None = None) -> VideoMetadata | None:
    """A premiere's opening parts are transcoded: the video plays (``playable``, visible to everyone) with
    ``progress`` percent done. A video already ready (or failed) is left alone; None then. NotFound (404) for an
    unknown video."""

    def change(old: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        doc = _existing(video_id, old)
        if doc.get(F_STATUS) in (READY, FAILED) or (doc.get(F_STATUS) == PLAYABLE
                                                     and int(doc.get("progress") or 0) >= progress):
            return doc
        return {**doc, F_STATUS: PLAYABLE, "progress": progress, "availableQualities": list(available_qualities),
                "streamingUrls": dict(streaming_urls), "updatedAt": now}

    written = _write(repo or _default_repo(), video_id, change)
    return to_metadata(written) if written is not None and written.get(F_STATUS) == PLAYABLE else None


def mark_failed(*, video_id: str, reason: str = "", repo: CatalogRepository | None = None) -> VideoMetadata:
    """Processing failed: the video stays visible to its uploader and admins only, with ``reason`` recorded
    (``failureReason``, not part of the API). NotFound (404) for an unknown video."""

    def change(old: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        doc = _existing(video_id, old)
        return {**doc, F_STATUS: FAILED, "failureReason": reason[:2000], "updatedAt": now}

    written = _write(repo or _default_repo(), video_id, change)
    assert written is not None
    return to_metadata(written)


def set_subtitle_tracks(
    repo: CatalogRepository, video_id: str,
    change: Callable[[dict[str, Any]], list[dict[str, Any]] | None],
) -> dict[str, Any] | None:
    """Replace a video's subtitle tracks with ``change(doc) -> tracks`` (None: leave the video as it is), in one
    transaction with its derived fields (``subtitles``, ``subtitleKeys``). Returns the new document; NotFound
    (404 STREAM_VIDEO_NOT_FOUND) when the video does not exist."""

    def apply(old: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        doc = _existing(video_id, old)
        tracks = change(doc)
        if tracks is None:
            return doc
        ready = ready_tracks({F_SUBTITLE_TRACKS: tracks})
        return {**doc, F_SUBTITLE_TRACKS: tracks, "subtitles": [t["language"] for t in ready],
                F_SUBTITLE_KEYS: [t["language"].casefold() for t in ready], "updatedAt": now}

    return _write(repo, video_id, apply)


def delete_video(*, video_id: str, by: Principal, repo: CatalogRepository | None = None) -> None:
    """Remove a video and its place in its series (admins and service identities only). NotFound if unknown."""
    if not (by.is_admin or by.kind == "service"):
        raise InsufficientPermissions("Only admins may delete videos", details={"role": by.role})

    def change(old: dict[str, Any] | None, now: datetime) -> None:
        _existing(video_id, old)
        return None

    _write(repo or _default_repo(), video_id, change)


def _video_not_found(video_id: str) -> NotFound:
    return NotFound(f"No video {video_id!r}", code=ErrorCode.STREAM_VIDEO_NOT_FOUND, details={"videoId": video_id})


def get_video(repo: CatalogRepository, viewer: Viewer, video_id: str) -> VideoMetadata:
    """A video the viewer may see; 404 STREAM_VIDEO_NOT_FOUND otherwise (hidden videos are not admitted to)."""
    if not VIDEO_ID.match(video_id):
        raise _video_not_found(video_id)
    doc = repo.get_video(video_id, fields=READ_FIELDS)
    if doc is None or not viewer.can_see(doc):
        raise _video_not_found(video_id)
    return to_metadata(doc, viewer)
