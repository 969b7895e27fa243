"""Spec 3.4 GET /api/stream/{videoId}: what the stream function answers for a video, format and quality.

The function never carries video bytes (a Cloud Run function response is capped at 32 MiB): it answers a small
manifest whose URIs point at the CDN, or a redirect to the CDN.

=================  =========================================================================================
format / quality   answer
=================  =========================================================================================
hls                the HLS master playlist; every playlist URI in it (variants, audio, subtitles) is the stream
                   function again, ``?format=hls&playlist=<name>&token=<playback token>``
hls + quality      the same master with that one variant (audio and subtitles kept): plays with audio
hls + playlist     that media playlist of the video, every URI (``EXT-X-MAP``, segments, WebVTT) absolute on the
                   CDN and signed with the prefix query: a bare player needs no cookie and no header
dash (+ quality)   the MPD (only that video representation), every segment template absolute and signed: plays
                   without the cookie, audio and subtitles (one WebVTT file per language) included
mp4 (+ quality)    302 to the signed CDN URL of ``progressive.mp4`` (byte ranges are served by the CDN)
=================  =========================================================================================

Who: a caller allowed to see the video (bearer token) or a ``token`` query parameter (:class:`PlaybackToken`, what
the catalogue's ``streamingUrls`` and every master's playlist URIs carry) for a video that is still ``ready``.

Subtitles: the video's ready tracks in the catalogue (kstream.subtitles.tracks) are the truth: the master gets exactly
their ``EXT-X-MEDIA:TYPE=SUBTITLES`` entries (replacing any the Transcoder wrote), so a track added, replaced or
deleted after transcoding shows at once, with no new job.

Errors: 404 STREAM_VIDEO_NOT_FOUND (no such video, or one hidden from the caller), 403 STREAM_ACCESS_DENIED (the
caller's own, or an admin's, video not ready yet), 404 STREAM_QUALITY_NOT_AVAILABLE (quality not in the video's
``availableQualities`` or not in the manifest, or the format was not produced for the video), 401
AUTH_INVALID_TOKEN (a playback token that is forged, for another video or expired).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urljoin

from contracts.stream import StreamQuery

from ..catalog.documents import READ_FIELDS, ready_tracks
from ..catalog.visibility import PLAYING, READY, Viewer
from ..errors import ErrorCode, InvalidToken, KstreamError, NotFound, RequestInvalid
from ..transcode.ladder import DASH_MANIFEST, HLS_MANIFEST, PROGRESSIVE_FILE, PROGRESSIVE_MAX_SHORT_SIDE
from . import manifests
from .access import MediaGrant, MediaSigner, check_can_stream, video_id_is_valid, video_not_found
from .manifest_cache import ManifestCache
from .media_store import MediaStore

__all__ = [
    "DASH_MEDIA_TYPE",
    "HLS_MEDIA_TYPE",
    "PlaylistLinks",
    "StreamAnswer",
    "StreamService",
    "VideoSource",
    "progressive_quality",
]

HLS_MEDIA_TYPE = "application/vnd.apple.mpegurl"
DASH_MEDIA_TYPE = "application/dash+xml"
FORMAT_NAMES = {"hls": "HLS", "dash": "DASH", "mp4": "progressive MP4"}


STREAM_FIELDS = (*READ_FIELDS, "updatedAt")
"""What the stream function reads of a video's document: what visibility, the master's subtitles and the playback
links need, and ``updatedAt``, the version of the video's manifests (kstream.streaming.manifest_cache)."""


class VideoSource(Protocol):
    def get_video(self, video_id: str, *, fields: Sequence[str] | None = None) -> dict[str, Any] | None: ...


def _manifests_version(doc: dict[str, Any]) -> str | None:
    updated = doc.get("updatedAt")
    if isinstance(updated, datetime):
        return updated.isoformat()
    return str(updated) if updated else None


@dataclass(frozen=True)
class StreamAnswer:
    """A manifest (``body`` of ``media_type``) or a redirect (``location``), with the grant behind it."""

    grant: MediaGrant | None
    body: str | None = None
    media_type: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class PlaylistLinks:
    """Where a master's playlist URIs point: the stream function's own URL for the video, with a playback token."""

    stream_url: str  # {api}/api/stream/<videoId>, as the caller reached it
    token: str

    def playlist(self, name: str) -> str:
        return f"{self.stream_url}?format=hls&playlist={quote(name, safe='/')}&token={self.token}"


def _quality_number(name: str) -> int | None:
    digits = name[:-1]
    return int(digits) if name.endswith("p") and digits.isdigit() else None


def progressive_quality(available: Sequence[str]) -> str | None:
    """The rendition the pipeline muxes into ``progressive.mp4``: the highest no larger than 720p, else the lowest
    (the ladder's rule, kstream.transcode.ladder)."""
    ranked = sorted((n, q) for q in available if (n := _quality_number(q)) is not None)
    if not ranked:
        return None
    small = [q for n, q in ranked if n <= PROGRESSIVE_MAX_SHORT_SIDE]
    return small[-1] if small else ranked[0][1]


def _not_available(video_id: str, message: str, **details: Any) -> KstreamError:
    return KstreamError(message, code=ErrorCode.STREAM_QUALITY_NOT_AVAILABLE, details={"videoId": video_id, **details})


def _damaged(video_id: str, what: str, exc: Exception) -> KstreamError:
    return KstreamError(f"The stored {what} of video {video_id!r} cannot be served: {exc}",
                        code=ErrorCode.SYSTEM_ERROR, details={"videoId": video_id})


class StreamService:
    def __init__(self, videos: VideoSource, media: MediaStore, signer: MediaSigner,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), *,
                 manifests: ManifestCache | None = None) -> None:
        self.videos = videos
        self.media = media
        self.signer = signer
        self.clock = clock
        self.manifests = manifests  # None: every manifest is read from the bucket

    def open(self, viewer: Viewer | None, video_id: str, query: StreamQuery, *, stream_url: str | None = None,
             token: str | None = None, playlist: str | None = None, playlist_links: bool = False) -> StreamAnswer:
        """The answer for ``viewer`` (a bearer token's caller) or, when ``viewer`` is None, for the holder of the
        playback ``token``; ``stream_url`` is this endpoint's public URL for the video (playlist links; default
        the path ``/api/stream/<videoId>``). ``playlist_links=False`` (a deployment whose stream function still
        demands a bearer token, so a player could not follow the links) answers the cookie-era master instead:
        variant URIs signed on the CDN, segments authorised by the cookie; ``quality`` its media playlist."""
        if not video_id_is_valid(video_id):
            raise video_not_found(video_id)
        now = self.clock()
        if viewer is None:
            if token is None:
                raise InvalidToken("Send an Authorization bearer token or a playback token (token=)")
            try:
                held = self.signer.verify_playback_token(token, video_id, now)
            except ValueError as exc:
                raise InvalidToken(f"Playback token refused: {exc}; ask /api/videos/{video_id} or "
                                   f"/api/stream/{video_id} for a new playback URL",
                                   details={"field": "token"}) from None
            doc = self.videos.get_video(video_id, fields=STREAM_FIELDS)
            if doc is None or doc.get("status", READY) not in PLAYING:
                raise video_not_found(video_id)
            expires = min(held.expires_at, now + self.signer.ttl)
        else:
            doc = check_can_stream(viewer, self.videos.get_video(video_id, fields=STREAM_FIELDS), video_id)
            expires = now + self.signer.ttl
        available = [str(q) for q in doc.get("availableQualities") or []]
        version = _manifests_version(doc)
        if playlist is not None:
            if query.format != "hls" or query.quality is not None:
                raise RequestInvalid("playlist= names one HLS media playlist: use it with format=hls only, without "
                                     "quality", details={"field": "playlist"})
            return self._media_playlist(self.signer.grant(video_id, now, expires), playlist, version)
        if query.quality is not None and query.quality not in available:
            raise _not_available(video_id, f"Video {video_id!r} has no {query.quality} rendition; it has "
                                 f"{', '.join(available) or 'none yet'}", quality=query.quality, available=available)
        grant = self.signer.grant(video_id, now, expires)
        if query.format == "mp4":
            return self._progressive(grant, available, query.quality)
        subtitles = [manifests.SubtitleRendition(t["language"], t["label"], t["kind"], bool(t.get("default")),
                                                 t["playlist"], t["vtt"]) for t in ready_tracks(doc)]
        if query.format == "dash":
            return self._dash(grant, query.quality, subtitles, version)
        if not playlist_links:
            return self._hls_on_cdn(grant, query.quality, subtitles, version)
        links = PlaylistLinks(stream_url or f"/api/stream/{video_id}", token if token is not None and viewer is None
                              else self.signer.playback_token(video_id, expires))
        return self._hls(grant, query.quality, subtitles, links, version)

    # -- formats ---------------------------------------------------------------------------------------------
    def _object(self, grant: MediaGrant, name: str) -> str:
        return f"videos/{grant.video_id}/{name}"

    def _text(self, grant: MediaGrant, name: str, version: str | None) -> str | None:
        """The stored text of the video's file ``name`` (None: no such file), from the process's manifest cache
        when it holds this version of the video's manifests."""
        path = self._object(grant, name)
        if self.manifests is None or version is None:
            return self.media.read_text(path)
        text = self.manifests.get(path, version)
        if text is None:
            text = self.media.read_text(path)
            if text is not None:
                self.manifests.put(path, version, text)
        return text

    def _read(self, grant: MediaGrant, name: str, fmt: str, version: str | None) -> str:
        try:
            text = self._text(grant, name, version)
        except manifests.ManifestError as exc:
            raise _damaged(grant.video_id, f"{FORMAT_NAMES[fmt]} manifest", exc) from None
        if text is None:
            raise _not_available(grant.video_id, f"Video {grant.video_id!r} has no {FORMAT_NAMES[fmt]} rendition",
                                 format=fmt)
        return text

    def _hls(self, grant: MediaGrant, quality: str | None, subtitles: list[manifests.SubtitleRendition],
             links: PlaylistLinks, version: str | None) -> StreamAnswer:
        master = self._read(grant, HLS_MANIFEST, "hls", version)

        def through_function(url: str) -> str:
            name = manifests.object_under(grant.prefix_url, url)
            return links.playlist(name) if name is not None else url

        try:
            master = manifests.with_hls_subtitles(master, subtitles)
            if quality is not None:
                master = manifests.keep_hls_variant(master, quality)
            body = manifests.rewrite_hls(master, grant.url(HLS_MANIFEST), through_function)
        except manifests.RenditionMissing as missing:
            raise _not_available(grant.video_id, f"The HLS manifest of video {grant.video_id!r} has no {quality} "
                                 "rendition", quality=quality, available=missing.available) from None
        except manifests.ManifestError as exc:
            raise _damaged(grant.video_id, "HLS manifest", exc) from None
        return StreamAnswer(grant, body, HLS_MEDIA_TYPE)

    def _hls_on_cdn(self, grant: MediaGrant, quality: str | None,
                    subtitles: list[manifests.SubtitleRendition], version: str | None) -> StreamAnswer:
        master_url = grant.url(HLS_MANIFEST)
        master = self._read(grant, HLS_MANIFEST, "hls", version)
        try:
            if quality is None:
                master = manifests.with_hls_subtitles(master, subtitles)
                return StreamAnswer(grant, manifests.rewrite_hls(master, master_url, grant.sign), HLS_MEDIA_TYPE)
            variant = manifests.hls_variant_for(master, quality)
            playlist_url = urljoin(master_url, variant.uri)
            name = manifests.object_under(grant.prefix_url, playlist_url)
            if name is None:
                raise manifests.ManifestError(f"variant {variant.uri!r} lies outside the video's folder")
            playlist = self._read(grant, name, "hls", version)
            return StreamAnswer(grant, manifests.rewrite_hls(playlist, playlist_url, grant.sign), HLS_MEDIA_TYPE)
        except manifests.RenditionMissing as missing:
            raise _not_available(grant.video_id, f"The HLS manifest of video {grant.video_id!r} has no {quality} "
                                 "rendition", quality=quality, available=missing.available) from None
        except manifests.ManifestError as exc:
            raise _damaged(grant.video_id, "HLS manifest", exc) from None

    def _media_playlist(self, grant: MediaGrant, name: str, version: str | None) -> StreamAnswer:
        url = urljoin(grant.prefix_url, name)
        if manifests.object_under(grant.prefix_url, url) != name or not name.endswith(".m3u8"):
            raise RequestInvalid(f"playlist must name an .m3u8 file of the video's folder, found {name[:200]!r}",
                                 details={"field": "playlist"})
        text = self._text(grant, name, version) if name != HLS_MANIFEST else None
        if text is None:
            raise NotFound(f"Video {grant.video_id!r} has no media playlist {name!r}",
                           code=ErrorCode.STREAM_QUALITY_NOT_AVAILABLE,
                           details={"videoId": grant.video_id, "playlist": name})
        try:
            if manifests.hls_variants(text):
                raise manifests.ManifestError(f"{name} is a master playlist, not a media playlist")
            return StreamAnswer(grant, manifests.rewrite_hls(text, url, grant.sign), HLS_MEDIA_TYPE)
        except manifests.ManifestError as exc:
            raise _damaged(grant.video_id, "HLS playlist", exc) from None

    def _dash(self, grant: MediaGrant, quality: str | None,
              subtitles: list[manifests.SubtitleRendition], version: str | None) -> StreamAnswer:
        mpd = self._read(grant, DASH_MANIFEST, "dash", version)
        try:
            mpd = manifests.with_dash_subtitles(mpd, subtitles)
            body = manifests.rewrite_mpd(mpd, grant.url(DASH_MANIFEST), grant.sign, quality)
        except manifests.RenditionMissing as missing:
            raise _not_available(grant.video_id, f"The DASH manifest of video {grant.video_id!r} has no {quality} "
                                 "rendition", quality=quality, available=missing.available) from None
        except manifests.ManifestError as exc:
            raise _damaged(grant.video_id, "DASH manifest", exc) from None
        return StreamAnswer(grant, body, DASH_MEDIA_TYPE)

    def _progressive(self, grant: MediaGrant, available: Sequence[str], quality: str | None) -> StreamAnswer:
        video_id = grant.video_id
        muxed = progressive_quality(available)
        if quality is not None and quality != muxed:
            raise _not_available(video_id, f"The progressive MP4 of video {video_id!r} is {muxed or 'not known'}, "
                                 f"not {quality}; use format=hls or dash for other qualities",
                                 quality=quality, available=[muxed] if muxed else [])
        if not self.media.exists(self._object(grant, PROGRESSIVE_FILE)):
            raise _not_available(video_id, f"Video {video_id!r} has no progressive MP4 rendition", format="mp4")
        location = self.signer.signed_file(video_id, PROGRESSIVE_FILE, self.clock(), grant.expires_at)
        return StreamAnswer(grant, location=location)
