"""The URLs catalogue answers hand out: playback URLs a bare player opens, and artwork URLs a page can show.

Both are built when a video is answered (``GET /api/videos/:id``, search, series), for a caller the catalogue
already let see the video; nothing is stored signed. docs/decisions/0010-playback-urls-and-artwork.md says why.

* ``streamingUrls.hls`` / ``dash``: ``{api}/api/stream/<videoId>?format=hls|dash&token=<playback token>`` for a
  ``ready`` video. The stream function accepts the token instead of an ``Authorization`` header and answers
  playlists whose every URI is signed, so AVPlayer, ExoPlayer, Chromecast, hls.js, Shaka and ffmpeg play from this
  URL alone.
* ``thumbnailUrl`` (the poster, else the first storyboard sheet): a Cloud CDN signed URL of that one image.

Both expire on a whole hour at least ``GRANT_TTL`` (4 h) ahead (:func:`kstream.streaming.access.stable_expiry`), so
a video's URLs are the same for an hour: browsers and players cache them, and Cloud CDN serves every viewer's
request for the image from one cache entry per hour instead of one per page view.

``{api}`` is ``KSTREAM_API_BASE_URL``, else the origin of ``KSTREAM_CDN_BASE_URL`` (one load balancer serves the
API and ``/media``, as locally the gateway does). Without a CDN key (a function not given
``KSTREAM_CDN_KEY_SECRET``) the stored URLs are answered unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..errors import KstreamError
from ..settings import Settings, get_settings, per_settings
from .access import MediaSigner, playback_tokens_enabled, stable_expiry, video_id_is_valid

__all__ = ["ARTWORK_SUFFIXES", "CatalogLinks", "catalog_links"]

ARTWORK_SUFFIXES = (".jpeg", ".jpg", ".png", ".webp")
READY = "ready"


class CatalogLinks:
    """Signs the URLs of catalogue answers with one Cloud CDN key."""

    def __init__(self, signer: MediaSigner, api_base_url: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.signer = signer
        self.api_base_url = api_base_url.rstrip("/")
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogLinks:
        signer = MediaSigner.from_settings(settings)
        base = settings.api_base_url
        if not base:
            parts = urlsplit(settings.cdn_base_url)
            base = f"{parts.scheme}://{parts.netloc}"
        return cls(signer, base)

    def playback_urls(self, doc: Mapping[str, Any], stored: Mapping[str, str]) -> dict[str, str]:
        """``streamingUrls`` for the video: playback URLs for each format it has, when it is playable or ready."""
        video_id = str(doc.get("id", ""))
        if doc.get("status", READY) not in (READY, "playable") or not video_id_is_valid(video_id):
            return dict(stored)
        token = self.signer.playback_token(video_id, stable_expiry(self.clock()))
        base = f"{self.api_base_url}/api/stream/{video_id}"
        return {fmt: f"{base}?format={fmt}&token={token}" if url else url for fmt, url in stored.items()}

    def artwork_url(self, video_id: str | None, url: str) -> str:
        """``url`` signed when it is an image of video ``video_id`` on the CDN; any other URL unchanged (never a
        signature for another video's files or for anything but an image)."""
        if not url or not video_id or not video_id_is_valid(video_id):
            return url
        prefix = self.signer.prefix_for(video_id)
        name = url[len(prefix):] if url.startswith(prefix) else ""
        if not name or "?" in name or "#" in name or ".." in name or not name.lower().endswith(ARTWORK_SUFFIXES):
            return url
        now = self.clock()
        return self.signer.signed_file(video_id, name, now, stable_expiry(now))


@per_settings
def _for_settings(settings: Settings) -> CatalogLinks | None:
    try:
        return CatalogLinks.from_settings(settings)
    except KstreamError:  # no CDN key or base URL given to this function: stored URLs are answered as they are
        return None


def catalog_links(settings: Settings | None = None) -> CatalogLinks | None:
    """The process's link signer (from its settings), None when it cannot sign or players could not use its
    playback URLs (:func:`kstream.streaming.access.playback_tokens_enabled`)."""
    if not playback_tokens_enabled():
        return None
    try:
        return _for_settings(settings or get_settings())
    except KstreamError:
        return None
