"""Subtitle tracks of a video: the rules behind the subtitle endpoints and the pipeline's use of them.

    put       language check -> base64 -> parse (any format, any encoding) -> who may -> where the video is:
                ready       cue times within its duration -> WebVTT + HLS segments + media playlist written under a
                            new version folder -> the track record swapped in one transaction -> the old version's
                            files deleted. No Transcoder job.
                processing  normalised WebVTT written -> track ``pending`` (the job, or the job event, takes it)
                uploading   (no video yet: its upload session is open) the same, recorded on the session; the
                            video is created with it when the upload completes
    delete    the record removed in one transaction, then its files
    pipeline  ``prepare_job``: the pending tracks that fit the probed duration become caption inputs of the
              Transcoder job (extra ``inputs``, ``textStream`` + ``vtt`` mux streams: see transcode/ladder.py);
              those ending past the video are ``rejected`` with the reason (their owner sees it);
              ``publisher``: when the job succeeds, tracks it carried point at its subtitle playlists, and tracks
              that arrived after it started are written by us, so every track is ready with the video.

Files, under the video's media folder ``videos/{videoId}/`` (behind the CDN's signed prefix):
    subtitles/{language}/{version}/full.vtt         the whole track (DASH and downloads)
    subtitles/{language}/{version}/index.m3u8       HLS media playlist (relative segment URIs)
    subtitles/{language}/{version}/seg-NNNNN.vtt    WebVTT segments, each a multiple of the video's segment
                                                    duration (at most MAX_SEGMENTS of them)
    subtitles-{language}.m3u8, subtitles-{language}/...   the same, written by the Transcoder job
A version folder is never rewritten: a replacement writes a new one, so a viewer mid-episode (and the CDN) keeps
the complete old track until the new one is complete, and nothing is ever half-written.

A track record (in ``videos/{id}.subtitleTracks``, or ``uploads/{id}.subtitleTracks`` before the video exists):
    language, label, kind, default, format, encoding, cueCount, lastCueEnd, status (pending | ready | rejected),
    reason (when rejected), version, vtt, playlist (paths relative to the video's folder; set once ready), updatedAt
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from contracts.metadata import VIDEO_ID_PATTERN
from contracts.subtitles import (
    MAX_SUBTITLE_FILE_BYTES,
    ListSubtitlesResponse,
    PutSubtitleRequest,
    SubtitleTrack,
)

from ..catalog import videos as catalog
from ..catalog.documents import F_MEDIA, F_SUBTITLE_TRACKS
from ..catalog.repository import CatalogRepository
from ..catalog.visibility import READY, Viewer
from ..errors import ErrorCode, InsufficientPermissions, NotFound, RequestInvalid, Unavailable
from ..settings import Settings, per_settings
from . import (
    END_TOLERANCE_SECONDS,
    ParsedSubtitle,
    check_against_duration,
    check_language,
    default_label,
    hls_subtitle_playlist,
    parse_subtitle,
    segment_webvtt,
    to_webvtt,
)

__all__ = ["SUBTITLE_MPEGTS", "BucketTrackFiles", "JobTrack", "SubtitleTracks", "TrackFiles", "job_track_playlist",
           "tracks_for"]

_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)
PENDING = "pending"
REJECTED = "rejected"
MEDIA_PREFIX = "videos/"
DEFAULT_SEGMENT_SECONDS = 6.0
SUBTITLE_MPEGTS = 0
"""X-TIMESTAMP-MAP MPEGTS value of the WebVTT segments we write: the 90 kHz time of the video's first sample."""
WRITE_THREADS = 16
MAX_SEGMENTS = 64
"""A rendition we write has at most this many segments: each a multiple of the video's segment duration (6 s for up
to 6.4 minutes, 60 s for an hour). Every segment is an object write (600 for an hour at 6 s: ~3 s on the local
storage emulator, and tens of milliseconds each in Cloud Storage), while a player fetches only the one it is in;
docs/decisions/0008-subtitles.md."""
VTT_TYPE = "text/vtt; charset=utf-8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
IMMUTABLE = "public, max-age=31536000, immutable"  # version folders never change


def job_track_playlist(language: str) -> str:
    """The HLS playlist a Transcoder job writes for the caption input of ``language`` (mux key, see ladder)."""
    from ..transcode.ladder import subtitle_mux_key

    return f"{subtitle_mux_key(language)}.m3u8"


class TrackFiles(Protocol):
    """Where track files go: the media bucket (kstream.adapters.storage), by object name."""

    def write(self, files: Mapping[str, tuple[str, str]]) -> None: ...  # name -> (text, content type)
    def read(self, name: str) -> bytes: ...
    def delete_prefix(self, prefix: str) -> None: ...


class UploadSessions(Protocol):
    """What the service needs of open upload sessions (kstream.uploads.repository.UploadRepository)."""

    def find_by_video(self, video_id: str) -> Any: ...  # Upload | None
    def change_subtitle_tracks(self, upload_id: str,
                               change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> str: ...


@dataclass(frozen=True)
class JobTrack:
    """A pending track handed to a Transcoder job as a caption input."""

    language: str
    label: str
    version: str
    vtt_object: str  # object name in the media bucket


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def to_contract(track: Mapping[str, Any]) -> SubtitleTrack:
    return SubtitleTrack(language=track["language"], label=track["label"], kind=track["kind"],
                         default=bool(track.get("default")), format=track["format"], cueCount=int(track["cueCount"]),
                         status=track["status"], reason=track.get("reason"), updatedAt=_iso(track.get("updatedAt", "")))


def _too_late(track: Mapping[str, Any], duration: float | None) -> str | None:
    """Why a track cannot go with a video of ``duration`` seconds, or None when it fits."""
    end = float(track.get("lastCueEnd") or 0.0)
    if duration and end > duration + END_TOLERANCE_SECONDS:
        return f"cues end at {end:.1f} s, after the video's end at {duration:.1f} s: is this another episode's file?"
    return None


def _ordered(tracks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted((dict(t) for t in tracks), key=lambda t: (not t.get("default"), t["language"].casefold()))


def _swap(tracks: Sequence[Mapping[str, Any]], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``tracks`` with ``new`` in place of the same language; a new default clears the others'."""
    key = new["language"].casefold()
    kept = [dict(t) for t in tracks if t["language"].casefold() != key]
    if new.get("default"):
        for track in kept:
            track["default"] = False
    return _ordered([*kept, dict(new)])


def _same(tracks: Sequence[Mapping[str, Any]], language: str) -> dict[str, Any] | None:
    key = language.casefold()
    return next((dict(t) for t in tracks if t["language"].casefold() == key), None)


def _decode(content: str, file_name: str) -> bytes:
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise RequestInvalid(f"{file_name}: content must be the file's bytes in base64 (standard alphabet)",
                             details={"field": "content", "file": file_name}) from None
    if len(data) > MAX_SUBTITLE_FILE_BYTES:
        raise RequestInvalid(f"{file_name} is {len(data)} bytes; a subtitle file may be at most "
                             f"{MAX_SUBTITLE_FILE_BYTES // (1024 * 1024)} MiB",
                             details={"field": "content", "file": file_name, "limit": MAX_SUBTITLE_FILE_BYTES})
    return data


def _video_missing(video_id: str) -> NotFound:
    return NotFound(f"No video {video_id!r}", code=ErrorCode.STREAM_VIDEO_NOT_FOUND, details={"videoId": video_id})


class SubtitleTracks:
    def __init__(self, catalog_repo: CatalogRepository, files: TrackFiles, sessions: UploadSessions, *,
                 now: Callable[[], datetime] = _now) -> None:
        self.catalog = catalog_repo
        self.files = files
        self.sessions = sessions
        self.now = now

    # -- reads -----------------------------------------------------------------------------------------------
    def _video(self, video_id: str) -> dict[str, Any] | None:
        """The video's document; NotFound for an id that cannot be a video's (never sent to Firestore)."""
        if not _VIDEO_ID.match(video_id):
            raise _video_missing(video_id[:128])
        return self.catalog.get_video(video_id)

    def list(self, viewer: Viewer, video_id: str) -> ListSubtitlesResponse:
        doc = self._video(video_id)
        if doc is not None:
            if not viewer.can_see(doc):
                raise _video_missing(video_id)
            tracks = doc.get(F_SUBTITLE_TRACKS) or []
            if not viewer.manages(doc):
                tracks = [t for t in tracks if t.get("status") == READY]
            return ListSubtitlesResponse(videoId=video_id, tracks=[to_contract(t) for t in _ordered(tracks)])
        upload = self._open_session(viewer, video_id)
        return ListSubtitlesResponse(videoId=video_id,
                                     tracks=[to_contract(t) for t in _ordered(upload.subtitle_tracks)])

    def _open_session(self, viewer: Viewer, video_id: str) -> Any:
        """The open upload session that will create ``video_id``, if the viewer owns it (or is an admin)."""
        upload = self.sessions.find_by_video(video_id)
        if upload is None or upload.status == "completed" or upload.expired(self.now()):
            raise _video_missing(video_id)
        if not (viewer.scope == "admin" or (viewer.scope == "uploader" and upload.owner_id == viewer.id)):
            raise _video_missing(video_id)
        return upload

    # -- writes ----------------------------------------------------------------------------------------------
    @staticmethod
    def _check_manages(viewer: Viewer, doc: Mapping[str, Any], video_id: str) -> None:
        if not viewer.can_see(doc):
            raise _video_missing(video_id)
        if not viewer.manages(doc):
            raise InsufficientPermissions("Only the video's uploader or an admin may change its subtitles",
                                          details={"videoId": video_id})

    def put(self, viewer: Viewer, video_id: str, language: str, body: PutSubtitleRequest
            ) -> tuple[SubtitleTrack, bool]:
        """Add or replace the track of ``language``; (track, created)."""
        language = check_language(language)
        doc = self._video(video_id)
        parsed = parse_subtitle(_decode(body.content, body.fileName), file_name=body.fileName, language=language)
        if doc is None:
            return self._put_on_session(viewer, video_id, language, body, parsed)
        self._check_manages(viewer, doc, video_id)
        version = uuid.uuid4().hex[:12]
        record = self._record(language, body, parsed, version)
        ready = doc.get("status") == READY
        if ready:
            duration = float(doc.get("duration") or 0.0)
            if duration > 0:
                check_against_duration(parsed, duration, file_name=body.fileName)
            media = doc.get(F_MEDIA) or {}
            record["playlist"] = self._write_rendition(
                video_id, record, parsed, duration, float(media.get("segmentSeconds") or DEFAULT_SEGMENT_SECONDS),
                int(media.get("subtitleMpegts") or 0))
            record["status"] = READY
        else:
            self._write_vtt(video_id, record, parsed)

        def on_video(change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
            def apply(current: dict[str, Any]) -> list[dict[str, Any]]:
                if not ready and current.get("status") == READY:  # became ready meanwhile: write it ourselves now
                    raise Unavailable("The video just became ready; send the subtitle again",
                                      headers={"Retry-After": "1"})
                return change(current.get(F_SUBTITLE_TRACKS) or [])

            catalog.set_subtitle_tracks(self.catalog, video_id, apply)

        return self._install(video_id, record, on_video)

    def _put_on_session(self, viewer: Viewer, video_id: str, language: str, body: PutSubtitleRequest,
                        parsed: ParsedSubtitle) -> tuple[SubtitleTrack, bool]:
        upload = self._open_session(viewer, video_id)
        record = self._record(language, body, parsed, uuid.uuid4().hex[:12])
        self._write_vtt(video_id, record, parsed)
        return self._install(video_id, record, lambda change: self.sessions.change_subtitle_tracks(upload.id, change))

    def _install(self, video_id: str, record: dict[str, Any],
                 store: Callable[[Callable[[list[dict[str, Any]]], list[dict[str, Any]]]], Any]
                 ) -> tuple[SubtitleTrack, bool]:
        """Swap ``record`` (its files already written) into a track list through ``store(change)``, where
        ``change(tracks) -> tracks``; if that fails the new version's files go, once it succeeds the replaced
        version's do. Returns (track, created)."""
        previous: dict[str, Any] = {}

        def change(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
            previous.clear()
            previous.update(_same(tracks, record["language"]) or {})
            return _swap(tracks, record)

        try:
            store(change)
        except BaseException:
            self.files.delete_prefix(self._folder(video_id, record))
            raise
        if previous:
            self._delete_files(video_id, previous)
        return to_contract(record), not previous

    def delete(self, viewer: Viewer, video_id: str, language: str) -> None:
        language = check_language(language)
        removed: dict[str, Any] = {}

        def drop(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
            removed.clear()
            removed.update(_same(tracks, language) or {})
            return [dict(t) for t in tracks if t["language"].casefold() != language.casefold()]

        doc = self._video(video_id)
        if doc is None:
            upload = self._open_session(viewer, video_id)
            self.sessions.change_subtitle_tracks(upload.id, drop)
        else:
            self._check_manages(viewer, doc, video_id)
            catalog.set_subtitle_tracks(self.catalog, video_id, lambda current: drop(
                current.get(F_SUBTITLE_TRACKS) or []))
        if removed:
            self._delete_files(video_id, removed)

    # -- the pipeline ----------------------------------------------------------------------------------------
    def prepare_job(self, video_id: str, duration: float | None) -> tuple[list[JobTrack], list[str]]:
        """The video's pending tracks that fit ``duration``: the caption inputs of its Transcoder job. A pending
        track whose cues end past the video (known only now that the source is probed) becomes ``rejected`` with
        the reason, which its owner sees in the track list; the others are untouched. Returns (carried, reasons)."""
        doc = self.catalog.get_video(video_id)
        if doc is None:
            return [], []
        carried, refused = self._fit(doc, duration)
        if refused:
            def reject(current: dict[str, Any]) -> list[dict[str, Any]]:
                return [{**t, "status": REJECTED, "reason": refused[t["language"]]}
                        if t.get("status") == PENDING and t["language"] in refused else dict(t)
                        for t in current.get(F_SUBTITLE_TRACKS) or []]

            catalog.set_subtitle_tracks(self.catalog, video_id, reject)
        return carried, [f"{language}: {reason}" for language, reason in refused.items()]

    @staticmethod
    def _fit(doc: Mapping[str, Any], duration: float | None) -> tuple[list[JobTrack], dict[str, str]]:
        carried: list[JobTrack] = []
        refused: dict[str, str] = {}
        for track in doc.get(F_SUBTITLE_TRACKS) or []:
            if track.get("status") != PENDING:
                continue
            late = _too_late(track, duration)
            if late:
                refused[track["language"]] = late
                continue
            carried.append(JobTrack(track["language"], track["label"], track["version"],
                                    f"{MEDIA_PREFIX}{doc['videoId']}/{track['vtt']}"))
        return carried, refused

    def publisher(self, video_id: str, *, duration: float, segment_seconds: float, mpegts: int,
                  carried: Mapping[str, str]) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
        """For :func:`kstream.catalog.videos.mark_ready`: pending tracks become ready — those the job carried
        (``carried``: language -> version) point at its playlist, the others are written now."""
        written: dict[str, str] = {}  # version -> playlist, so a retried transaction does not write twice

        def publish(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for track in tracks:
                track = dict(track)
                late = _too_late(track, duration) if track.get("status") == PENDING else None
                if late:
                    track.update(status=REJECTED, reason=late)
                elif track.get("status") == PENDING:
                    if carried.get(track["language"]) == track["version"]:
                        track["playlist"] = job_track_playlist(track["language"])
                    else:
                        if track["version"] not in written:
                            parsed = self._read_vtt(video_id, track)
                            written[track["version"]] = self._write_rendition(video_id, track, parsed, duration,
                                                                              segment_seconds, mpegts)
                        track["playlist"] = written[track["version"]]
                    track["status"] = READY
                out.append(track)
            return out

        return publish

    # -- files -----------------------------------------------------------------------------------------------
    def _record(self, language: str, body: PutSubtitleRequest, parsed: ParsedSubtitle, version: str
                ) -> dict[str, Any]:
        cues = parsed.cues
        return {
            "language": language,
            "label": body.label or default_label(language),
            "kind": body.kind,
            "default": body.default,
            "format": parsed.source_format,
            "encoding": parsed.encoding,
            "cueCount": len(cues),
            "lastCueEnd": max((c.end for c in cues), default=0.0),
            "status": PENDING,
            "version": version,
            "vtt": f"subtitles/{language}/{version}/full.vtt",
            "playlist": None,
            "updatedAt": self.now(),
        }

    @staticmethod
    def _folder(video_id: str, track: Mapping[str, Any]) -> str:
        return f"{MEDIA_PREFIX}{video_id}/subtitles/{track['language']}/{track['version']}/"

    def _write_vtt(self, video_id: str, track: Mapping[str, Any], parsed: ParsedSubtitle) -> None:
        self.files.write({f"{MEDIA_PREFIX}{video_id}/{track['vtt']}": (to_webvtt(parsed.cues), VTT_TYPE)})

    def _read_vtt(self, video_id: str, track: Mapping[str, Any]) -> ParsedSubtitle:
        data = self.files.read(f"{MEDIA_PREFIX}{video_id}/{track['vtt']}")
        return parse_subtitle(data, file_name=track["vtt"], language=track["language"])

    def _write_rendition(self, video_id: str, track: Mapping[str, Any], parsed: ParsedSubtitle, duration: float,
                         segment_seconds: float, mpegts: int) -> str:
        """Write the whole track, its segments and its media playlist in the track's version folder; returns
        the playlist's path relative to the video's folder."""
        folder = self._folder(video_id, track)
        duration = max(duration, max((c.end for c in parsed.cues), default=0.0), segment_seconds)
        segment_seconds *= max(1, math.ceil(duration / (segment_seconds * MAX_SEGMENTS)))
        segments = segment_webvtt(parsed.cues, segment_seconds=segment_seconds, duration_seconds=duration,
                                  mpegts=mpegts)
        names = [f"seg-{n:05d}.vtt" for n in range(1, len(segments) + 1)]
        files = {folder + name: (text, VTT_TYPE) for name, text in zip(names, segments, strict=True)}
        files[folder + "full.vtt"] = (to_webvtt(parsed.cues), VTT_TYPE)
        files[folder + "index.m3u8"] = (hls_subtitle_playlist(names, segment_seconds=segment_seconds,
                                                              duration_seconds=duration), PLAYLIST_TYPE)
        self.files.write(files)
        return f"subtitles/{track['language']}/{track['version']}/index.m3u8"

    def _delete_files(self, video_id: str, track: Mapping[str, Any]) -> None:
        """Best effort: a file left behind is unreachable (no record points at it) and costs only storage."""
        with contextlib.suppress(Exception):  # never fail a finished change over cleanup
            self.files.delete_prefix(self._folder(video_id, track))


class BucketTrackFiles:
    """TrackFiles on a Cloud Storage bucket: many small objects written in parallel (a 60-minute track is ~600)."""

    def __init__(self, bucket: Any) -> None:
        self.bucket = bucket

    def write(self, files: Mapping[str, tuple[str, str]]) -> None:
        def one(item: tuple[str, tuple[str, str]]) -> None:
            name, (text, content_type) = item
            blob = self.bucket.blob(name)
            blob.cache_control = IMMUTABLE
            blob.upload_from_string(text.encode("utf-8"), content_type=content_type)

        try:
            if len(files) == 1:
                one(next(iter(files.items())))
                return
            with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(files))) as pool:
                list(pool.map(one, files.items()))
        except Exception as exc:
            raise Unavailable("Cloud Storage did not take the subtitle files; try again shortly",
                              details={"reason": exc.__class__.__name__}) from exc

    def read(self, name: str) -> bytes:
        try:
            return self.bucket.blob(name).download_as_bytes()
        except Exception as exc:
            raise Unavailable("Cloud Storage did not return a subtitle file; try again shortly",
                              details={"reason": exc.__class__.__name__}) from exc

    def delete_prefix(self, prefix: str) -> None:
        blobs = list(self.bucket.list_blobs(prefix=prefix))
        if not blobs:
            return
        with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(blobs))) as pool:
            list(pool.map(lambda b: b.delete(), blobs))


@per_settings
def tracks_for(settings: Settings) -> SubtitleTracks:
    """The subtitle service of this process for ``settings`` (clients created once, on first use)."""
    from ..adapters import firestore, storage
    from ..uploads.repository import UploadRepository

    db = firestore.client(settings)
    return SubtitleTracks(CatalogRepository(db), BucketTrackFiles(storage.client(settings).bucket(
        settings.media_bucket)), UploadRepository(db))
