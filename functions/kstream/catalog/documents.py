"""A video's stored Firestore document and its contract form: what is stored (search tokens, sort keys, subtitle
tracks, media facts) and how a stored video becomes the API's :class:`~contracts.metadata.VideoMetadata`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from contracts.metadata import (
    VIDEO_ID_PATTERN,
    CreateVideoMetadataRequest,
    StreamingUrls,
    SubtitleTrackSummary,
    Uploader,
    VideoMetadata,
)

from ..validation import validate
from . import search_text
from .repository import (
    F_EPISODE,
    F_LANGUAGE_KEY,
    F_SERIES_KEY,
    F_SERIES_SORT,
    F_STATUS,
    F_SUBTITLE_KEYS,
    F_TAG_KEYS,
    F_TITLE_SORT,
    F_TOKENS,
    F_UPLOAD_DATE,
    F_UPLOADER,
)
from .visibility import FAILED, READY, Viewer

__all__ = [
    "F_MEDIA",
    "F_SUBTITLE_TRACKS",
    "READ_FIELDS",
    "VIDEO_ID",
    "playback_links",
    "ready_tracks",
    "request_of",
    "stored_video",
    "to_metadata",
    "unique_tags",
    "video_document",
]

F_SUBTITLE_TRACKS = "subtitleTracks"
F_MEDIA = "media"
"""Every subtitle track of the video, pending ones included, with where its files are (kstream.subtitles.tracks)."""
VIDEO_ID = re.compile(VIDEO_ID_PATTERN)

READ_FIELDS = (
    "title", "series", F_SERIES_KEY, F_SERIES_SORT, F_TITLE_SORT, F_EPISODE, "description", "duration", "fileSize",
    F_UPLOADER, "uploaderUsername", "availableQualities", "thumbnailUrl", "streamingUrls", "tags", F_TAG_KEYS,
    "language", F_LANGUAGE_KEY, F_SUBTITLE_KEYS, F_SUBTITLE_TRACKS, F_STATUS, "progress", "failureReason",
    F_UPLOAD_DATE,
)
"""The fields the catalogue's reads (get, search, series) fetch: what :func:`to_metadata`, visibility, the search's
checks and its sort keys use. Left on the server: ``searchTokens`` (up to 400 strings, only Firestore filters on
them), ``media``, ``subtitles``, ``videoId`` and ``updatedAt``; reads are billed the same, but the answer is smaller
and decoding it costs a fraction of the CPU. tests/unit/test_catalog_documents.py fails when a stored field is in
neither list."""


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def ready_tracks(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The video's subtitle tracks viewers get, default first, then by language."""
    tracks = [t for t in doc.get(F_SUBTITLE_TRACKS) or [] if t.get("status") == READY]
    return sorted(tracks, key=lambda t: (not t.get("default"), t["language"].casefold()))


def playback_links() -> Any:
    """The process's signer of playback and artwork URLs (kstream.streaming.links), None when it cannot sign."""
    from ..streaming.links import catalog_links  # the streaming package imports this module

    return catalog_links()


_LOOK_UP = object()


def to_metadata(doc: Mapping[str, Any], viewer: Viewer | None = None, *, links: Any = _LOOK_UP) -> VideoMetadata:
    """The contract form of a stored video; owner-only fields (``failureReason``) when ``viewer`` manages it.
    ``links``: :func:`playback_links`, when the caller answering several videos looked it up once."""
    urls = doc.get("streamingUrls") or {}
    thumbnail = doc.get("thumbnailUrl", "")
    if links is _LOOK_UP:
        links = playback_links()
    if links is not None:  # playback and artwork URLs that work from this answer alone (decision 0010)
        urls = links.playback_urls(doc, urls)
        thumbnail = links.artwork_url(str(doc.get("id", "")), thumbnail)
    tracks = ready_tracks(doc)
    reason = doc.get("failureReason") if doc.get(F_STATUS) == FAILED and viewer and viewer.manages(doc) else None
    return VideoMetadata(
        id=str(doc["id"]),
        title=doc.get("title", ""),
        series=doc.get("series", ""),
        episode=int(doc.get("episode", 0)),
        description=doc.get("description", ""),
        duration=float(doc.get("duration", 0.0)),
        fileSize=int(doc.get("fileSize", 0)),
        availableQualities=list(doc.get("availableQualities") or []),
        thumbnailUrl=thumbnail,
        uploadDate=_iso(doc.get(F_UPLOAD_DATE, "")),
        uploader=Uploader(id=doc.get(F_UPLOADER, ""), username=doc.get("uploaderUsername", "")),
        streamingUrls=StreamingUrls(hls=urls.get("hls", ""), dash=urls.get("dash")),
        tags=list(doc.get("tags") or []),
        language=doc.get("language", ""),
        subtitles=[t["language"] for t in tracks],
        subtitleTracks=[SubtitleTrackSummary(language=t["language"], label=t["label"], kind=t["kind"],
                                             default=bool(t.get("default"))) for t in tracks],
        status=doc.get(F_STATUS, READY),
        progress=doc.get("progress") if doc.get(F_STATUS) == "playable" else None,
        failureReason=reason or None,
    )


def unique_tags(tags: Iterable[str]) -> tuple[list[str], list[str]]:
    """Tags deduplicated by normalized form (first spelling kept) and their normalized keys."""
    shown: list[str] = []
    keys: list[str] = []
    for tag in tags:
        key = search_text.normalize(tag)
        if key and key not in keys:
            shown.append(tag)
            keys.append(key)
    return shown, keys


def stored_video(req: CreateVideoMetadataRequest, *, status: str, upload_date: datetime, now: datetime,
                    tracks: Sequence[Mapping[str, Any]] = (), media: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
    """The stored form of a video. ``subtitles`` (the spec's list of tags, and ``subtitleKeys`` for search) derive
    from the subtitle ``tracks`` that are ready; the request's own ``subtitles`` is not stored. ``media`` holds what
    the pipeline learnt of the renditions (``segmentSeconds``, ``subtitleMpegts``) for later subtitle writes."""
    tags, tag_keys = unique_tags(req.tags or [])
    ready = ready_tracks({F_SUBTITLE_TRACKS: list(tracks)})
    urls = {"hls": req.streamingUrls.hls}
    if req.streamingUrls.dash is not None:
        urls["dash"] = req.streamingUrls.dash
    return {
        "videoId": req.videoId,
        "title": req.title,
        "series": req.series,
        F_SERIES_KEY: search_text.series_key(req.series),
        F_EPISODE: req.episode,
        "description": req.description,
        "duration": float(req.duration),
        "fileSize": int(req.fileSize),
        F_UPLOADER: req.uploaderId,
        "uploaderUsername": req.uploaderUsername,
        "availableQualities": list(dict.fromkeys(req.availableQualities)),
        "thumbnailUrl": req.thumbnailUrl,
        "streamingUrls": urls,
        "tags": tags,
        F_TAG_KEYS: tag_keys,
        "language": req.language,
        F_LANGUAGE_KEY: req.language.casefold(),
        "subtitles": [t["language"] for t in ready],
        F_SUBTITLE_KEYS: [t["language"].casefold() for t in ready],
        F_SUBTITLE_TRACKS: [dict(t) for t in tracks],
        F_MEDIA: dict(media or {}),
        F_STATUS: status,
        F_TITLE_SORT: search_text.normalize(req.title),
        F_SERIES_SORT: search_text.normalize(req.series),
        F_TOKENS: search_text.document_tokens(req.title, req.series, req.description, tags),
        F_UPLOAD_DATE: upload_date,
        "updatedAt": now,
    }


def video_document(request: CreateVideoMetadataRequest, *, status: str = READY,
                   upload_date: datetime | None = None) -> dict[str, Any]:
    """The stored form of a video (with its search tokens and sort keys), for bulk loaders such as the bench.
    Writes that must keep series consistent go through :func:`upsert_from_request` instead."""
    now = datetime.now(UTC)
    return {**stored_video(request, status=status, upload_date=upload_date or now, now=now),
            "id": request.videoId}


def request_of(doc: Mapping[str, Any], **changes: Any) -> CreateVideoMetadataRequest:
    """The metadata of a stored video as a request, with ``changes`` applied and validated."""
    data: dict[str, Any] = {
        "videoId": doc["id"],
        "title": doc["title"],
        "series": doc["series"],
        "episode": doc[F_EPISODE],
        "description": doc.get("description", ""),
        "duration": doc.get("duration", 0.0),
        "fileSize": doc.get("fileSize", 0),
        "uploaderId": doc[F_UPLOADER],
        "uploaderUsername": doc.get("uploaderUsername") or doc[F_UPLOADER],
        "availableQualities": list(doc.get("availableQualities") or []),
        "thumbnailUrl": doc.get("thumbnailUrl", ""),
        "streamingUrls": dict(doc.get("streamingUrls") or {"hls": ""}),
        "tags": list(doc.get("tags") or []),
        "language": doc.get("language", "ko"),
    }
    data.update({k: v for k, v in changes.items() if v is not None})
    return validate(CreateVideoMetadataRequest, data, where="video")
