"""Catalog rules: who sees which video, how a search is planned, ranked and paged, and how a series stays
consistent with its episodes. Firestore access goes through :mod:`kstream.catalog.repository` only.

Visibility (get, search and series alike)
    viewers see ``ready`` videos; an uploader also sees their own videos in any status; admins see all.

Writes (the pipeline calls these; every one is ONE transaction over the video and its series documents)
    :func:`upsert_video` (create or update, idempotent on the id), :func:`mark_ready`, :func:`mark_failed`,
    :func:`delete_video` (admins). The series document (``series/{series_key(name)}``) lists its episodes
    ``{videoId, episode, status, uploaderId, language, tags}`` and the aggregates derived from them:
    ``totalEpisodes`` (distinct episode numbers not failed), ``availableEpisodes`` (ready ones), ``language`` and
    ``tags`` (most frequent among ready episodes, else among all), and ``name`` / ``description`` /
    ``thumbnailUrl`` from the *lead* episode (the lowest-numbered ready one, else processing, else failed).
    Moving a video to another series updates both series; the last episode leaving deletes the series document.

Search (docs/decisions/0004-search-on-firestore.md explains the trade-offs)
    Firestore evaluates the visibility filter, ONE primary criterion (the first present of: text token, series,
    uploader, episode, tags, language) and the order; the remaining criteria and the full text match run in
    memory on the documents read. Results come in *windows* of ``K x limit`` matches read in the requested order
    (K = 3 with ``q``, else 1); a window is ranked by text relevance and cut into pages. A window also stops after
    reading ``budget`` documents, so a page never reads more than O(limit) documents whatever the catalogue's
    size. ``total`` comes from ``count()`` (capped at ``COUNT_CAP``) when Firestore evaluates every criterion,
    from reading the whole candidate set when that is at most ``budget`` documents, and is an estimate otherwise
    (``totalExact: false``). ``nextPageToken`` resumes at the window's position; ``page`` walks from the start
    (an offset when that is exact), so deep page numbers cost reads and are capped at ``MAX_SKIP`` results.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from contracts.metadata import (
    VIDEO_ID_PATTERN,
    CreateVideoMetadataRequest,
    GetSeriesResponse,
    SearchVideosQuery,
    SearchVideosResponse,
    StreamingUrls,
    SubtitleTrackSummary,
    Uploader,
    VideoMetadata,
)

from ..auth import Principal
from ..errors import ErrorCode, InsufficientPermissions, NotFound, RequestInvalid
from ..validation import validate
from . import search_text
from .repository import (
    DOC_ID,
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
    CatalogRepository,
    Direction,
    Filter,
    TransactionView,
    VideoQuery,
)

__all__ = [
    "COUNT_CAP",
    "MAX_SKIP",
    "READY",
    "SearchPlan",
    "Viewer",
    "delete_video",
    "get_series",
    "get_video",
    "mark_failed",
    "mark_ready",
    "plan_search",
    "search",
    "set_subtitle_tracks",
    "to_metadata",
    "upsert_from_request",
    "upsert_video",
    "video_document",
]

PROCESSING, READY, FAILED = "processing", "ready", "failed"
F_SUBTITLE_TRACKS = "subtitleTracks"
F_MEDIA = "media"
"""Every subtitle track of the video, pending ones included, with where its files are (kstream.subtitles.tracks)."""
STATUSES = (PROCESSING, READY, FAILED)
IN_PROGRESS = [PROCESSING, FAILED]

COUNT_CAP = 10_000
"""``count()`` stops here (at most 10 reads); a total that reaches it is reported as 10 000, ``totalExact: false``."""
MAX_SKIP = 10_000
"""A ``page`` number may skip at most this many results; deeper pages are reached with ``nextPageToken``."""
RANK_WINDOW_PAGES = 3
"""With ``q``, relevance ranking looks at this many pages of matches at a time."""
MIN_BUDGET, MAX_BUDGET, BUDGET_PER_MATCH = 200, 1500, 5
"""A window reads at most clamp(5 x window, 200, 1500) documents."""
SERIES_ENTRY_TAGS = 10
"""Tags kept per episode in the series document (enough to aggregate; bounds the document's size)."""
SERIES_TAGS = 30

SORT_FIELDS: dict[str, tuple[str, ...]] = {
    "title": (F_TITLE_SORT,),
    "uploadDate": (F_UPLOAD_DATE,),
    "episode": (F_EPISODE,),
    "series": (F_SERIES_SORT, F_EPISODE),
}
PRIMARY_ORDER = ("text", "series", "uploader", "episode", "tags", "language", "subtitles")
_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)
_TOKEN_SALT = b"kstream-page-token-v1\x00"


# -- who is looking ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Viewer:
    """The caller as visibility sees it: ``viewer`` (ready videos), ``uploader`` (+ own), ``admin`` (all)."""

    id: str
    scope: Literal["viewer", "uploader", "admin"]

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        if principal.kind == "service" or principal.is_admin:
            return cls(principal.id, "admin")
        if principal.can("videos:upload"):
            return cls(principal.id, "uploader")
        return cls(principal.id, "viewer")

    def can_see(self, doc: Mapping[str, Any]) -> bool:
        if self.scope == "admin" or doc.get(F_STATUS) == READY:
            return True
        return self.scope == "uploader" and doc.get(F_UPLOADER) == self.id

    def manages(self, doc: Mapping[str, Any]) -> bool:
        """Whether the viewer may change the video and see what only its owner sees (failure reason, pending
        subtitle tracks): its uploader, admins and service identities."""
        return self.scope == "admin" or (self.scope == "uploader" and doc.get(F_UPLOADER) == self.id)


# -- documents <-> contract ----------------------------------------------------------------------------------
def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def ready_tracks(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The video's subtitle tracks viewers get, default first, then by language."""
    tracks = [t for t in doc.get(F_SUBTITLE_TRACKS) or [] if t.get("status") == READY]
    return sorted(tracks, key=lambda t: (not t.get("default"), t["language"].casefold()))


def _links() -> Any:
    from ..streaming.links import catalog_links  # the streaming package imports this module

    return catalog_links()


def to_metadata(doc: Mapping[str, Any], viewer: Viewer | None = None) -> VideoMetadata:
    """The contract form of a stored video; owner-only fields (``failureReason``) when ``viewer`` manages it."""
    urls = doc.get("streamingUrls") or {}
    thumbnail = doc.get("thumbnailUrl", "")
    links = _links()
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
        failureReason=reason or None,
    )


def _unique_tags(tags: Iterable[str]) -> tuple[list[str], list[str]]:
    """Tags deduplicated by normalized form (first spelling kept) and their normalized keys."""
    shown: list[str] = []
    keys: list[str] = []
    for tag in tags:
        key = search_text.normalize(tag)
        if key and key not in keys:
            shown.append(tag)
            keys.append(key)
    return shown, keys


def _video_document(req: CreateVideoMetadataRequest, *, status: str, upload_date: datetime, now: datetime,
                    tracks: Sequence[Mapping[str, Any]] = (), media: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
    """The stored form of a video. ``subtitles`` (the spec's list of tags, and ``subtitleKeys`` for search) derive
    from the subtitle ``tracks`` that are ready; the request's own ``subtitles`` is not stored. ``media`` holds what
    the pipeline learnt of the renditions (``segmentSeconds``, ``subtitleMpegts``) for later subtitle writes."""
    tags, tag_keys = _unique_tags(req.tags or [])
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
    return {**_video_document(request, status=status, upload_date=upload_date or now, now=now),
            "id": request.videoId}


def _request_of(doc: Mapping[str, Any], **changes: Any) -> CreateVideoMetadataRequest:
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


# -- series consistency --------------------------------------------------------------------------------------
_STATUS_RANK = {READY: 0, PROCESSING: 1, FAILED: 2}


def _entry(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "videoId": doc["videoId"],
        "episode": doc[F_EPISODE],
        "status": doc[F_STATUS],
        "uploaderId": doc[F_UPLOADER],
        "language": doc.get("language", ""),
        "tags": list(doc.get("tags") or [])[:SERIES_ENTRY_TAGS],
    }


def _lead(entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return min(entries, key=lambda e: (_STATUS_RANK.get(e["status"], 3), e["episode"], e["videoId"]), default=None)


def _pool(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The episodes aggregates are drawn from: ready ones, else those not failed, else all."""
    ordered = sorted(entries, key=lambda e: (e["episode"], e["videoId"]))
    for keep in ({READY}, {READY, PROCESSING}, set(STATUSES)):
        chosen = [e for e in ordered if e["status"] in keep]
        if chosen:
            return chosen
    return ordered


def _aggregate_language(pool: Sequence[Mapping[str, Any]], lead: Mapping[str, Any]) -> str:
    counts = Counter(e["language"].casefold() for e in pool if e["language"])
    if not counts:
        return str(lead.get("language", ""))
    best = max(counts.values())
    tied = {k for k, n in counts.items() if n == best}
    if lead["language"].casefold() in tied:
        return str(lead["language"])
    return next(e["language"] for e in pool if e["language"].casefold() in tied)


def _aggregate_tags(pool: Sequence[Mapping[str, Any]]) -> list[str]:
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    first: dict[str, int] = {}
    for entry in pool:
        for tag in entry["tags"]:
            key = search_text.normalize(tag)
            if not key:
                continue
            counts[key] += 1
            shown.setdefault(key, tag)
            first.setdefault(key, len(first))
    ranked = sorted(counts, key=lambda k: (-counts[k], first[k]))
    return [shown[k] for k in ranked[:SERIES_TAGS]]


def _series_document(key: str, entries: list[dict[str, Any]], lead_doc: Mapping[str, Any],
                     previous: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    entries = sorted(entries, key=lambda e: (e["episode"], e["videoId"]))
    lead = _lead(entries)
    assert lead is not None
    pool = _pool(entries)
    return {
        "key": key,
        "name": lead_doc["series"],
        "description": lead_doc.get("description", ""),
        "thumbnailUrl": lead_doc.get("thumbnailUrl", ""),
        "leadId": lead["videoId"],
        "language": _aggregate_language(pool, lead),
        "tags": _aggregate_tags(pool),
        "totalEpisodes": len({e["episode"] for e in entries if e["status"] != FAILED}),
        "availableEpisodes": sorted({e["episode"] for e in entries if e["status"] == READY}),
        "episodes": entries,
        "createdAt": (previous or {}).get("createdAt", now),
        "updatedAt": now,
    }


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
                entries.append(_entry(new))
            outcome[key] = _settle_series(view, key, entries, stored[key], new, now)
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


def _settle_series(view: TransactionView, key: str, entries: list[dict[str, Any]],
                   previous: Mapping[str, Any] | None, written: Mapping[str, Any] | None, now: datetime
                   ) -> dict[str, Any] | None:
    """The series document after a change, or None when no episode is left. Reads the lead episode when it is
    neither the video being written nor the lead already recorded (self-heals entries whose video is gone)."""
    while entries:
        lead = _lead(entries)
        assert lead is not None
        if written is not None and lead["videoId"] == written["videoId"]:
            lead_doc: Mapping[str, Any] | None = written
        elif previous is not None and previous.get("leadId") == lead["videoId"]:
            lead_doc = {"series": previous.get("name", ""), "description": previous.get("description", ""),
                        "thumbnailUrl": previous.get("thumbnailUrl", "")}
        else:
            lead_doc = view.get_video(lead["videoId"])
            if lead_doc is None or lead_doc.get(F_SERIES_KEY) != key:
                entries = [e for e in entries if e["videoId"] != lead["videoId"]]
                continue
        return _series_document(key, entries, lead_doc, previous, now)
    return None


# -- writes (called by the pipeline and the metadata endpoint) ------------------------------------------------
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
        return _video_document(request, status=status, upload_date=upload_date, now=now, tracks=tracks,
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
        request = _request_of(doc, availableQualities=list(available_qualities), streamingUrls=dict(streaming_urls),
                              thumbnailUrl=thumbnail_url, duration=duration, fileSize=file_size)
        tracks = [dict(t) for t in doc.get(F_SUBTITLE_TRACKS) or []]
        if publish_tracks is not None:
            tracks = publish_tracks(tracks)
        return _video_document(request, status=READY, upload_date=doc.get(F_UPLOAD_DATE) or now, now=now,
                               tracks=tracks, media={**(doc.get(F_MEDIA) or {}), **(media or {})})

    written = _write(repo or _default_repo(), video_id, change)
    assert written is not None
    return to_metadata(written)


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


# -- reads ---------------------------------------------------------------------------------------------------
def _video_not_found(video_id: str) -> NotFound:
    return NotFound(f"No video {video_id!r}", code=ErrorCode.STREAM_VIDEO_NOT_FOUND, details={"videoId": video_id})


def get_video(repo: CatalogRepository, viewer: Viewer, video_id: str) -> VideoMetadata:
    """A video the viewer may see; 404 STREAM_VIDEO_NOT_FOUND otherwise (hidden videos are not admitted to)."""
    if not _VIDEO_ID.match(video_id):
        raise _video_not_found(video_id)
    doc = repo.get_video(video_id)
    if doc is None or not viewer.can_see(doc):
        raise _video_not_found(video_id)
    return to_metadata(doc, viewer)


def get_series(repo: CatalogRepository, viewer: Viewer, name: str) -> GetSeriesResponse:
    """A series with the episodes the viewer may see, in episode order; 404 SERIES_NOT_FOUND when none."""
    missing = NotFound(f"No series {name!r}", code=ErrorCode.SERIES_NOT_FOUND, details={"seriesName": name})
    try:
        key = search_text.series_key(name)
    except ValueError:
        raise missing from None
    if len(name) > 300:
        raise missing
    doc = repo.get_series(key)
    if doc is None:
        raise missing
    visible = [e for e in doc.get("episodes", [])
               if viewer.can_see({F_STATUS: e.get("status"), F_UPLOADER: e.get("uploaderId")})]
    if not visible:
        raise missing
    found = repo.get_videos(e["videoId"] for e in visible)
    episodes = sorted((d for d in found.values() if viewer.can_see(d) and d.get(F_SERIES_KEY) == key),
                      key=lambda d: (d[F_EPISODE], d["id"]))
    face = {"name": doc.get("name", name), "description": doc.get("description", ""),
            "thumbnailUrl": doc.get("thumbnailUrl", ""), "language": doc.get("language", ""),
            "tags": list(doc.get("tags", []))}
    shown = {d["id"]: d for d in episodes}
    face_id = doc.get("leadId")
    if doc.get("leadId") not in shown:
        # The stored face of the series (name, description, thumbnail, language, tags) comes from an episode this
        # caller may not see (another uploader's processing or failed video): draw it from the visible ones only.
        entries = [e for e in visible if e["videoId"] in shown]
        lead = _lead(entries)
        lead_doc = shown[lead["videoId"]] if lead else {}
        face_id = lead_doc.get("id")
        pool = _pool(entries)
        face = {"name": lead_doc.get("series", face["name"]), "description": lead_doc.get("description", ""),
                "thumbnailUrl": lead_doc.get("thumbnailUrl", ""),
                "language": _aggregate_language(pool, lead) if lead else "", "tags": _aggregate_tags(pool)}
    links = _links()
    if links is not None:
        face["thumbnailUrl"] = links.artwork_url(face_id, face["thumbnailUrl"])
    return GetSeriesResponse(
        totalEpisodes=int(doc.get("totalEpisodes", 0)),
        availableEpisodes=list(doc.get("availableEpisodes", [])),
        episodes=[to_metadata(d, viewer) for d in episodes],
        **face,
    )


# -- search planning -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Criteria:
    """A search's filters, normalized as the documents store them."""

    text: search_text.QueryPlan
    series_key: str | None
    episode: int | None
    language_key: str | None
    uploader: str | None
    tag_keys: tuple[str, ...]
    subtitle_key: str | None = None

    @classmethod
    def of(cls, query: SearchVideosQuery) -> Criteria:
        try:
            text = search_text.query_tokens(query.q)
        except ValueError as exc:
            raise _invalid("q", str(exc)) from None
        tag_keys: tuple[str, ...] = ()
        if query.tags is not None:
            tag_keys = tuple(_unique_tags(query.tags.split(","))[1])
            if not tag_keys:
                raise _invalid("tags", "no searchable tag: tags need letters or digits")
        return cls(
            text=text,
            series_key=search_text.series_key(query.series) if query.series else None,
            episode=query.episode,
            language_key=query.language.casefold() if query.language else None,
            uploader=query.uploader,
            tag_keys=tag_keys,
            subtitle_key=query.subtitles.casefold() if query.subtitles else None,
        )

    def active(self) -> tuple[str, ...]:
        present = {
            "text": not self.text.is_empty,
            "series": self.series_key is not None,
            "uploader": self.uploader is not None,
            "episode": self.episode is not None,
            "tags": bool(self.tag_keys),
            "language": self.language_key is not None,
            "subtitles": self.subtitle_key is not None,
        }
        return tuple(name for name in PRIMARY_ORDER if present[name])

    @property
    def text_exact(self) -> bool:
        """Whether the single Firestore token decides a text match on its own (no in-memory check needed)."""
        terms = self.text.terms
        if len(terms) != 1:
            return False
        term = terms[0]
        return len(term.text) <= 2 if term.ngram else len(term.text) <= search_text.MAX_PREFIX_LEN

    def firestore_filter(self, name: str) -> Filter:
        if name == "text":
            return Filter(F_TOKENS, "array_contains", self.text.token)
        if name == "series":
            return Filter(F_SERIES_KEY, "==", self.series_key)
        if name == "uploader":
            return Filter(F_UPLOADER, "==", self.uploader)
        if name == "episode":
            return Filter(F_EPISODE, "==", self.episode)
        if name == "tags":
            return Filter(F_TAG_KEYS, "array_contains_any", list(self.tag_keys))
        if name == "language":
            return Filter(F_LANGUAGE_KEY, "==", self.language_key)
        if name == "subtitles":
            return Filter(F_SUBTITLE_KEYS, "array_contains", self.subtitle_key)
        raise ValueError(name)

    def accepts(self, name: str, doc: Mapping[str, Any]) -> bool:
        if name == "text":
            fields = [doc.get("title", ""), doc.get("series", ""), doc.get("description", ""),
                      *(doc.get("tags") or [])]
            return search_text.matches(self.text, fields)
        if name == "series":
            return doc.get(F_SERIES_KEY) == self.series_key
        if name == "uploader":
            return doc.get(F_UPLOADER) == self.uploader
        if name == "episode":
            return doc.get(F_EPISODE) == self.episode
        if name == "tags":
            keys = set(doc.get(F_TAG_KEYS) or [])
            return any(k in keys for k in self.tag_keys)
        if name == "language":
            return doc.get(F_LANGUAGE_KEY) == self.language_key
        if name == "subtitles":
            return self.subtitle_key in (doc.get(F_SUBTITLE_KEYS) or [])
        raise ValueError(name)


@dataclass(frozen=True)
class Stream:
    """One Firestore query of a search and what is left to check in memory on its documents."""

    query: VideoQuery
    fixed: Mapping[str, Any]  # sort fields pinned by an equality filter (left out of the Firestore order)
    residual: tuple[str, ...]  # criteria checked in memory

    @property
    def exact(self) -> bool:
        return not self.residual


@dataclass(frozen=True)
class SearchPlan:
    viewer: Viewer
    criteria: Criteria
    sort: str
    descending: bool
    limit: int
    streams: tuple[Stream, ...]
    fingerprint: str

    @property
    def sort_fields(self) -> tuple[str, ...]:
        return SORT_FIELDS[self.sort]

    @property
    def pages_per_window(self) -> int:
        return 1 if self.criteria.text.is_empty else RANK_WINDOW_PAGES

    @property
    def window(self) -> int:
        return self.pages_per_window * self.limit

    @property
    def budget(self) -> int:
        return min(max(BUDGET_PER_MATCH * self.window, MIN_BUDGET), MAX_BUDGET)

    def key(self, doc: Mapping[str, Any]) -> tuple[Any, ...]:
        return (*(doc[f] for f in self.sort_fields), doc["id"])

    def accepts(self, stream: Stream, doc: Mapping[str, Any]) -> bool:
        return self.viewer.can_see(doc) and all(self.criteria.accepts(name, doc) for name in stream.residual)

    def rank(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.criteria.text.is_empty:
            return docs
        plan = self.criteria.text
        tiers = {d["id"]: search_text.rank(plan, d.get("title", ""), d.get("series", ""), d.get("description", ""))
                 for d in docs}
        return sorted(docs, key=lambda d: -tiers[d["id"]])  # stable: the requested order breaks ties


def _invalid(name: str, problem: str) -> RequestInvalid:
    return RequestInvalid(f"Invalid query: {name}: {problem}", details={"fields": [{"field": name,
                                                                                     "problem": problem}]})


def _stream(filters: list[Filter], sort_fields: tuple[str, ...], direction: Direction, residual: Iterable[str]
            ) -> Stream:
    pinned = {f.field: f.value for f in filters if f.op == "==" and f.field in sort_fields}
    order = tuple((name, direction) for name in sort_fields if name not in pinned)
    return Stream(VideoQuery(tuple(filters), order, direction), pinned, tuple(residual))


def plan_search(viewer: Viewer, query: SearchVideosQuery) -> SearchPlan:
    """The Firestore queries (one, or two for uploaders) and in-memory checks that answer ``query`` for
    ``viewer``. Pure: the index-coverage test enumerates every plan through this function."""
    criteria = Criteria.of(query)
    sort = query.sort or "title"
    descending = query.order == "desc"
    direction: Direction = "DESCENDING" if descending else "ASCENDING"
    sort_fields = SORT_FIELDS[sort]
    active = criteria.active()
    primary = active[0] if active else None
    primary_exact = primary is not None and (primary != "text" or criteria.text_exact)
    primary_filters = [criteria.firestore_filter(primary)] if primary else []
    residual = [name for name in active if not (name == primary and primary_exact)]
    # Admins filter on every status rather than none, so their queries share the viewers' indexes.
    visible = Filter(F_STATUS, "in", list(STATUSES)) if viewer.scope == "admin" else Filter(F_STATUS, "==", READY)
    streams = [_stream([visible, *primary_filters], sort_fields, direction, residual)]
    if viewer.scope == "uploader" and criteria.uploader in (None, viewer.id):
        own = [Filter(F_UPLOADER, "==", viewer.id), Filter(F_STATUS, "in", IN_PROGRESS)]
        streams.append(_stream(own, sort_fields, direction, [n for n in active if n != "uploader"]))
    identity = {
        "q": criteria.text.normalized, "series": criteria.series_key, "episode": criteria.episode,
        "language": criteria.language_key, "uploader": criteria.uploader, "tags": sorted(criteria.tag_keys),
        "subtitles": criteria.subtitle_key,
        "sort": sort, "order": query.order, "limit": query.limit, "scope": viewer.scope,
        "viewer": viewer.id if viewer.scope == "uploader" else None,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    return SearchPlan(viewer, criteria, sort, descending, query.limit, tuple(streams), digest)


# -- search execution ----------------------------------------------------------------------------------------
@dataclass
class _StreamStats:
    scanned: int = 0
    matched: int = 0


class _Reader:
    """One stream's documents after a position, in order, fetched lazily (every fetched document is billed)."""

    def __init__(self, repo: CatalogRepository, plan: SearchPlan, stream: Stream, after: tuple[Any, ...] | None,
                 *, offset: int = 0, lead_in: bool = False, preloaded: list[dict[str, Any]] | None = None) -> None:
        self.repo, self.plan, self.stream = repo, plan, stream
        self.offset = offset
        self.lead_in = lead_in  # the first document fetched only marks the position (offset paging)
        self.buffer: list[dict[str, Any]] = []
        self.fetched = 0
        self.exhausted = False
        self.cursor: tuple[list[Any], bool] | None = None  # (values, inclusive) where the next fetch starts
        if preloaded is not None:
            self.buffer = [d for d in preloaded if after is None or self._beyond(plan.key(d), after)]
            self.exhausted = True
        elif after is not None:
            position = self._stream_cursor(after)
            if position is None:
                self.exhausted = True
            elif position[0]:
                self.cursor = position

    def _beyond(self, key: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
        return key < after if self.plan.descending else key > after

    def _stream_cursor(self, after: tuple[Any, ...]) -> tuple[list[Any], bool] | None:
        """The Firestore cursor equivalent to "after ``after``" for this stream, whose order leaves out the sort
        fields its filters pin: (values, inclusive); ([], True) is the start; None when nothing follows."""
        prefix: list[Any] = []
        for name, value in zip(self.plan.sort_fields, after[:-1], strict=True):
            if name not in self.stream.fixed:
                prefix.append(value)
                continue
            pinned = self.stream.fixed[name]
            if pinned == value:
                continue
            if self._beyond((pinned,), (value,)):
                return prefix, True  # every document with this prefix comes after
            return (prefix, False) if prefix else None  # none with this prefix does
        return [*prefix, after[-1]], False

    def _fetch(self) -> None:
        window = self.plan.window
        remaining = max(1, self.plan.budget + 1 - self.fetched)
        size = window + 1 + int(self.lead_in) if self.fetched == 0 else max(2 * window, 100)
        size = max(1, min(size, remaining + int(self.lead_in)))
        values, inclusive = self.cursor if self.cursor is not None else ([], False)
        docs = self.repo.fetch(self.stream.query, start=values, inclusive=inclusive, limit=size, offset=self.offset)
        self.offset = 0
        self.fetched += len(docs)
        if len(docs) < size:
            self.exhausted = True
        if docs:
            last = docs[-1]
            self.cursor = ([last[name] for name, _ in self.stream.query.order] + [last["id"]], False)
        self.buffer.extend(docs)

    def head(self) -> dict[str, Any] | None:
        if not self.buffer and not self.exhausted:
            self._fetch()
        return self.buffer[0] if self.buffer else None

    def pop(self) -> dict[str, Any]:
        return self.buffer.pop(0)


@dataclass
class _Window:
    matches: list[dict[str, Any]]
    start: tuple[Any, ...] | None
    last: tuple[Any, ...] | None
    scanned: int
    exhausted: bool


def _scan(repo: CatalogRepository, plan: SearchPlan, after: tuple[Any, ...] | None, stats: list[_StreamStats],
          *, offset: int = 0, preloaded: Mapping[int, list[dict[str, Any]]] | None = None) -> _Window:
    """One window: matches in the requested order after ``after`` until ``window`` matches or ``budget`` documents
    read. ``offset`` (single exact stream only) skips that many documents from the start instead."""
    preloaded = preloaded or {}
    readers = [_Reader(repo, plan, s, after, offset=max(offset - 1, 0), lead_in=offset > 0,
                       preloaded=preloaded.get(i)) for i, s in enumerate(plan.streams)]
    start = after
    if offset:
        previous = readers[0].head()
        if previous is None:
            return _EMPTY
        start = plan.key(readers[0].pop())
    matches: list[dict[str, Any]] = []
    scanned = 0
    last: tuple[Any, ...] | None = None
    exhausted = False
    while True:
        live = [(i, d) for i, d in ((i, r.head()) for i, r in enumerate(readers)) if d is not None]
        if not live:
            exhausted = True
            break
        pick = (max if plan.descending else min)(live, key=lambda item: plan.key(item[1]))[0]
        doc = readers[pick].pop()
        scanned += 1
        stats[pick].scanned += 1
        last = plan.key(doc)
        if plan.accepts(plan.streams[pick], doc):
            matches.append(doc)
            stats[pick].matched += 1
            if len(matches) >= plan.window:
                break
        if scanned >= plan.budget:
            break
    if not exhausted:
        exhausted = all(r.head() is None for r in readers)
    return _Window(matches, start, last, scanned, exhausted)


@dataclass(frozen=True)
class _Token:
    after: tuple[Any, ...] | None  # where the window starts
    sub: int  # page within the window
    page: int
    total: int
    exact: bool
    before: int  # matches in the windows before this one


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.astimezone(UTC).isoformat()}
    return value


def _decode_value(value: Any, name: str) -> Any:
    if name == F_UPLOAD_DATE:
        if not (isinstance(value, dict) and isinstance(value.get("t"), str)):
            raise ValueError("bad timestamp")
        return datetime.fromisoformat(value["t"])
    if name == F_EPISODE:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("bad episode")
        return value
    if not isinstance(value, str):
        raise ValueError(f"bad {name}")
    return value


def _encode_token(plan: SearchPlan, token: _Token) -> str:
    payload = {
        "v": 1, "f": plan.fingerprint, "j": token.sub, "p": token.page, "t": token.total, "x": token.exact,
        "b": token.before,
        "a": None if token.after is None else [_encode_value(v) for v in token.after],
    }
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    check = hashlib.sha256(_TOKEN_SALT + raw).digest()[:9]
    return f"{_b64(raw)}.{_b64(check)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_token(plan: SearchPlan, text: str) -> _Token:
    damaged = _invalid("pageToken", "not a page token of this API (damaged or edited); start again without it")
    try:
        body, check = text.split(".")
        raw = _unb64(body)
        if hashlib.sha256(_TOKEN_SALT + raw).digest()[:9] != _unb64(check):
            raise damaged
        payload = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise damaged from None
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise damaged
    if payload.get("f") != plan.fingerprint:
        raise _invalid("pageToken", "it belongs to a search with other parameters (or another user); send the "
                       "same q, filters, sort, order and limit as the request that returned it")
    try:
        sub, page, total, exact, before = payload["j"], payload["p"], payload["t"], payload["x"], payload["b"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sub, page, total, before)):
            raise ValueError("counters")
        if not isinstance(exact, bool) or sub < 0 or sub >= plan.pages_per_window or page < 2 or total < 0 \
                or before < 0:
            raise ValueError("ranges")
        after_raw = payload["a"]
        after: tuple[Any, ...] | None = None
        if after_raw is not None:
            names = (*plan.sort_fields, DOC_ID)
            if not isinstance(after_raw, list) or len(after_raw) != len(names):
                raise ValueError("position")
            after = tuple(_decode_value(v, n) for v, n in zip(after_raw, names, strict=True))
            if not _VIDEO_ID.match(after[-1]):
                raise ValueError("id")
    except (KeyError, ValueError, TypeError):
        raise damaged from None
    return _Token(after, sub, page, total, exact, before)


@dataclass
class _Census:
    """What ``count()`` (and, for small non-exact streams, reading them whole) says about each stream."""

    counted: list[int]  # count() per stream, at most COUNT_CAP (reaching it means "at least")
    matches: list[int | None]  # exact matches per stream; None: estimate from the documents read
    preloaded: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def total(self, stats: Sequence[_StreamStats]) -> tuple[int, bool]:
        total, exact = 0, True
        for i, counted in enumerate(self.counted):
            known = self.matches[i]
            if known is not None:
                if counted >= COUNT_CAP:
                    exact, known = False, COUNT_CAP
                total += known
                continue
            exact = False
            seen = stats[i]
            base = min(counted, COUNT_CAP)
            estimate = round(base * seen.matched / seen.scanned) if seen.scanned else base
            total += max(estimate, seen.matched)
        return total, exact


def _census(repo: CatalogRepository, plan: SearchPlan) -> _Census:
    census = _Census(counted=[], matches=[])
    for i, stream in enumerate(plan.streams):
        n = repo.count(stream.query, up_to=COUNT_CAP)
        census.counted.append(n)
        if stream.exact:
            census.matches.append(n)
        elif n <= plan.budget:
            docs = repo.fetch(stream.query, limit=n + 1) if n else []
            census.preloaded[i] = docs
            census.matches.append(sum(1 for d in docs if plan.accepts(stream, d)))
        else:
            census.matches.append(None)
    return census


_EMPTY = _Window(matches=[], start=None, last=None, scanned=0, exhausted=True)


def _walk(repo: CatalogRepository, plan: SearchPlan, page: int, stats: list[_StreamStats],
          preloaded: Mapping[int, list[dict[str, Any]]]) -> tuple[_Window, int, int]:
    """Window, page-within-window and matches before the window of ``page``, found by reading the windows before
    it (what following nextPageToken from page 1 would do)."""
    after: tuple[Any, ...] | None = None
    pages_before = 0
    before = 0
    read = 0
    while True:
        window = _scan(repo, plan, after, stats, preloaded=preloaded)
        pages = max(1, math.ceil(len(window.matches) / plan.limit))
        if page <= pages_before + pages:
            return window, page - 1 - pages_before, before
        if window.exhausted:
            return _EMPTY, 0, before
        pages_before += pages
        before += len(window.matches)
        after = window.last
        read += window.scanned
        if read > MAX_SKIP:
            raise _invalid("page", f"page {page} lies more than {MAX_SKIP} documents deep for this search; follow "
                           "nextPageToken instead")


def _respond(plan: SearchPlan, window: _Window, sub: int, page: int, total: int, exact: bool, before: int
             ) -> SearchVideosResponse:
    limit = plan.limit
    ranked = plan.rank(window.matches)
    shown = ranked[sub * limit : (sub + 1) * limit]
    pages = max(1, math.ceil(len(ranked) / limit))
    delivered = before + min((sub + 1) * limit, len(ranked))
    token: _Token | None = None
    if exact and delivered >= total:
        token = None  # every match counted has been shown: no trailing empty page
    elif sub + 1 < pages:
        token = _Token(window.start, sub + 1, page + 1, total, exact, before)
    elif not window.exhausted:
        token = _Token(window.last, 0, page + 1, total, exact, before + len(ranked))
    return SearchVideosResponse(
        videos=[to_metadata(d, plan.viewer) for d in shown],
        total=total,
        page=page,
        limit=limit,
        totalPages=math.ceil(total / limit),
        nextPageToken=_encode_token(plan, token) if token else None,
        totalExact=exact,
    )


def search(repo: CatalogRepository, viewer: Viewer, query: SearchVideosQuery) -> SearchVideosResponse:
    """Answer a search (spec 3.5) for ``viewer``; reads O(limit) documents per page (see the module docstring)."""
    plan = plan_search(viewer, query)
    stats = [_StreamStats() for _ in plan.streams]
    if query.pageToken is not None:
        token = _decode_token(plan, query.pageToken)
        if "page" in query.model_fields_set and query.page != token.page:
            raise _invalid("page", f"page {query.page} disagrees with pageToken, which continues at page "
                           f"{token.page}; send one or the other")
        window = _scan(repo, plan, token.after, stats)
        return _respond(plan, window, token.sub, token.page, token.total, token.exact, token.before)
    page = query.page
    if (page - 1) * plan.limit >= MAX_SKIP:
        raise _invalid("page", f"page {page} with limit {plan.limit} skips {(page - 1) * plan.limit} results; at "
                       f"most {MAX_SKIP - 1} can be skipped by page number: follow nextPageToken to go further")
    census = _census(repo, plan)
    sub = before = 0
    if page == 1:
        window = _scan(repo, plan, None, stats, preloaded=census.preloaded)
    elif len(plan.streams) == 1 and plan.streams[0].exact:
        number, sub = divmod(page - 1, plan.pages_per_window)
        before = number * plan.window
        window = _EMPTY if before >= census.counted[0] else _scan(repo, plan, None, stats, offset=before)
    else:
        window, sub, before = _walk(repo, plan, page, stats, census.preloaded)
    total, exact = census.total(stats)
    return _respond(plan, window, sub, page, total, exact, before)
