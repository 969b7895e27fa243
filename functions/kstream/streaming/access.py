"""Who may stream a video, and the Cloud CDN credentials that let a player fetch it.

Rule: the caller must be able to see the video (the catalog's visibility rule, :meth:`Viewer.can_see`) AND the
video must be ``ready`` (only then do its renditions exist). A missing video and a video the caller cannot see
(another uploader's processing or failed video) are the same 404 STREAM_VIDEO_NOT_FOUND, as on
``/api/videos/{videoId}`` and in series: the answer never tells that a hidden video exists. Only a video the caller
can see but that is not ready yet (their own upload, or any for an admin) is 403 STREAM_ACCESS_DENIED, with its
status.

Credentials: one *grant* per answer, for the video's prefix ``{cdn_base_url}/videos/<videoId>/`` (trailing slash:
``.../videos/abc/`` never matches ``.../videos/abcd/...``), expiring after ``GRANT_TTL``. A grant is given twice:

* as the Cloud CDN signed-prefix query (``URLPrefix=..&Expires=..&KeyName=..&Signature=..``) appended to every URI
  the function writes into a manifest (:meth:`MediaGrant.sign`);
* as the ``Cloud-CDN-Cookie`` signed cookie, ``Path`` = the prefix's path, for the URIs the function does not write:
  the relative segment URIs inside the static HLS media playlists on the CDN (:func:`set_cookie_header`).

The progressive MP4 gets a signed URL for that one file (:meth:`MediaSigner.signed_file`).

Playback token (docs/decisions/0010-playback-urls-and-artwork.md): a bare player (AVPlayer, ExoPlayer, Chromecast,
ffmpeg) sends no ``Authorization`` header and no cookie. ``token`` in the stream function's query stands for "a
caller allowed to see this video asked for it": ``<expires>.<signature>``, the signature an HMAC-SHA256 under the
Cloud CDN key of ``kstream-playback``, the video id and the expiry (:class:`PlaybackToken`). Every playlist URI of a
master the function answers is the stream function again with ``playlist=<name>&token=...``, and that playlist comes
back with every segment URI absolute and signed (the prefix query): nothing relies on a cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from contracts.metadata import VIDEO_ID_PATTERN

from .. import cdn_signing
from ..catalog.visibility import PLAYING, READY, Viewer
from ..errors import ConfigurationError, ErrorCode, KstreamError, NotFound
from ..settings import Settings

__all__ = [
    "GRANT_TTL",
    "PLAYBACK_URL_STEP",
    "MediaGrant",
    "MediaSigner",
    "PlaybackToken",
    "check_can_stream",
    "cookie_domain",
    "playback_tokens_enabled",
    "set_cookie_header",
    "stable_expiry",
    "video_id_is_valid",
    "video_not_found",
]

GRANT_TTL = timedelta(hours=4)
"""How long manifest URIs and the cookie stay valid: a long episode with pauses; a player reloading the manifest
afterwards gets a fresh grant."""

PLAYBACK_URL_STEP = timedelta(hours=1)
"""Playback URLs and artwork URLs in catalogue answers expire on a whole hour at least ``GRANT_TTL`` ahead, so one
video's URLs stay the same for an hour: browsers, players and the CDN cache them (a URL signed per request would be a
new cache entry every time)."""

_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)
_TOKEN = re.compile(r"\A([0-9]{1,12})\.([A-Za-z0-9_-]{43})\Z")
_MAC_DOMAIN = "kstream-playback"


def playback_tokens_enabled() -> bool:
    """Whether a player without a bearer token reaches the stream function: its entry in functions/functions.yaml
    says ``playback_token: true`` (the wrapper then lets a ``?token=`` request through and the service checks it).
    Without it playback URLs and playlist links would be refused, so masters keep the cookie-era form and the
    catalogue its stored URLs."""
    from ..registry import function_list

    return function_list().by_name("stream").playback_token


def video_id_is_valid(video_id: str) -> bool:
    return bool(_VIDEO_ID.match(video_id))


def video_not_found(video_id: str) -> NotFound:
    return NotFound(f"No video {video_id!r}", code=ErrorCode.STREAM_VIDEO_NOT_FOUND, details={"videoId": video_id})


def check_can_stream(viewer: Viewer, doc: Mapping[str, Any] | None, video_id: str) -> Mapping[str, Any]:
    """The video document when ``viewer`` may stream it; NotFound (also for a video hidden from the viewer) or
    STREAM_ACCESS_DENIED (visible to the viewer, not ready) otherwise."""
    if doc is None or not viewer.can_see(doc):
        raise video_not_found(video_id)
    status = doc.get("status", READY)
    if status not in PLAYING:
        raise KstreamError(f"Video {video_id!r} is {status}: it can be streamed once it is playable or ready",
                           code=ErrorCode.STREAM_ACCESS_DENIED, details={"videoId": video_id, "status": status})
    return doc


@dataclass(frozen=True)
class MediaGrant:
    """Access to one video's prefix on the CDN until ``expires_at``."""

    video_id: str
    prefix_url: str  # {cdn_base_url}/videos/<videoId>/
    query: str  # URLPrefix=...&Expires=...&KeyName=...&Signature=...
    cookie_value: str  # URLPrefix=...:Expires=...:KeyName=...:Signature=...
    expires_at: datetime

    def sign(self, url: str) -> str:
        """``url`` with the signed-prefix query appended when it lies under the prefix; any other URL unchanged
        (a signature is never handed to another host)."""
        if not url.startswith(self.prefix_url):
            return url
        return cdn_signing.attach_signed_query(url, self.query)

    def url(self, object_name: str) -> str:
        """The CDN URL of ``videos/<videoId>/<object_name>`` (unsigned)."""
        return self.prefix_url + object_name

    @property
    def cookie_path(self) -> str:
        return urlsplit(self.prefix_url).path


@dataclass(frozen=True)
class PlaybackToken:
    """The ``token`` query parameter of playback URLs: video id and expiry under an HMAC of the CDN key."""

    video_id: str
    expires_at: datetime

    @staticmethod
    def _mac(key: bytes, video_id: str, expires: int) -> str:
        message = f"{_MAC_DOMAIN}\n{video_id}\n{expires}".encode()
        return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode().rstrip("=")

    def encode(self, key: bytes) -> str:
        expires = int(self.expires_at.timestamp())
        return f"{expires}.{self._mac(key, self.video_id, expires)}"

    @classmethod
    def verify(cls, text: str, video_id: str, key: bytes, now: datetime) -> PlaybackToken:
        """The token when ``text`` is a valid, unexpired token for ``video_id``; ValueError saying why not."""
        found = _TOKEN.match(text)
        if not found:
            raise ValueError("not a playback token")
        expires = int(found.group(1))
        if not hmac.compare_digest(found.group(2), cls._mac(key, video_id, expires)):
            raise ValueError("the playback token is not for this video")
        if int(now.timestamp()) >= expires:
            raise ValueError("the playback token has expired")
        return cls(video_id, datetime.fromtimestamp(expires, tz=now.tzinfo))


def stable_expiry(now: datetime, ttl: timedelta = GRANT_TTL, step: timedelta = PLAYBACK_URL_STEP) -> datetime:
    """The first whole ``step`` at least ``ttl`` after ``now``: one expiry (one URL) for a whole ``step``."""
    earliest = now + ttl
    step_seconds = int(step.total_seconds())
    whole = -(-int(earliest.timestamp()) // step_seconds) * step_seconds
    return datetime.fromtimestamp(whole, tz=now.tzinfo)


class MediaSigner:
    """Signs CDN access to videos with one Cloud CDN key."""

    def __init__(self, cdn_base_url: str, key_name: str, key: bytes, ttl: timedelta = GRANT_TTL) -> None:
        parts = urlsplit(cdn_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigurationError(f"KSTREAM_CDN_BASE_URL must be an http(s) URL without a query, found "
                                     f"{cdn_base_url!r}")
        self.base_url = cdn_base_url.rstrip("/")
        self.key_name = key_name
        self.key = key
        self.ttl = ttl

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaSigner:
        if not settings.cdn_base_url:
            raise ConfigurationError("KSTREAM_CDN_BASE_URL is not set: the stream function cannot name the CDN")
        if not settings.cdn_key_secret:
            raise ConfigurationError("KSTREAM_CDN_KEY_SECRET is not set: the stream function cannot sign CDN URLs")
        try:
            key = cdn_signing.decode_key(settings.cdn_key_secret)
        except ValueError as exc:
            raise ConfigurationError(f"KSTREAM_CDN_KEY_SECRET is not a Cloud CDN key: {exc}") from None
        return cls(settings.cdn_base_url, settings.cdn_key_name, key)

    @property
    def scheme(self) -> str:
        return urlsplit(self.base_url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def prefix_for(self, video_id: str) -> str:
        if not video_id_is_valid(video_id):
            raise ValueError(f"not a video id: {video_id!r}")
        return f"{self.base_url}/videos/{video_id}/"

    def grant(self, video_id: str, now: datetime, expires_at: datetime | None = None) -> MediaGrant:
        prefix = self.prefix_for(video_id)
        expires = expires_at or now + self.ttl
        return MediaGrant(
            video_id=video_id,
            prefix_url=prefix,
            query=cdn_signing.sign_url_prefix(prefix, self.key_name, self.key, expires),
            cookie_value=cdn_signing.sign_cookie(prefix, self.key_name, self.key, expires),
            expires_at=expires,
        )

    def signed_file(self, video_id: str, object_name: str, now: datetime, expires_at: datetime | None = None) -> str:
        """A Cloud CDN signed URL for exactly one object of the video."""
        return cdn_signing.sign_url(self.prefix_for(video_id) + object_name, self.key_name, self.key,
                                    expires_at or now + self.ttl)

    def playback_token(self, video_id: str, expires_at: datetime) -> str:
        if not video_id_is_valid(video_id):
            raise ValueError(f"not a video id: {video_id!r}")
        return PlaybackToken(video_id, expires_at).encode(self.key)

    def verify_playback_token(self, text: str, video_id: str, now: datetime) -> PlaybackToken:
        return PlaybackToken.verify(text, video_id, self.key, now)


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def cookie_domain(api_host: str, cdn_host: str) -> str | None:
    """``Domain`` for a cookie set by ``api_host`` that ``cdn_host`` must receive.

    "" when both are the same host (a host-only cookie, no Domain attribute); their shared parent domain of at
    least two labels when they differ (``api.kstream.example`` + ``media.kstream.example`` -> ``kstream.example``);
    None when no cookie set by the API can reach the CDN (different sites, or IP addresses).
    """
    api, cdn = _hostname(api_host), _hostname(cdn_host)
    if not api or not cdn:
        return None
    if api == cdn:
        return ""
    if _is_ip(api) or _is_ip(cdn):
        return None
    a, c = api.split("."), cdn.split(".")
    common: list[str] = []
    while a and c and a[-1] == c[-1]:
        common.insert(0, a.pop())
        c.pop()
    return ".".join(common) if len(common) >= 2 else None


def set_cookie_header(grant: MediaGrant, signer: MediaSigner, api_host: str, now: datetime) -> str | None:
    """The ``Set-Cookie`` value carrying the grant as ``Cloud-CDN-Cookie``, or None when the CDN could not get it.

    ``Path`` is the video's prefix path, so the cookie goes with this video's requests only; ``HttpOnly`` (page
    scripts never need it); over https ``Secure; SameSite=None`` (a player on another site sends it with
    ``withCredentials``); over plain http (local only) ``SameSite=Lax``, since browsers drop ``SameSite=None``
    cookies that are not ``Secure``.
    """
    domain = cookie_domain(api_host, signer.host)
    if domain is None:
        return None
    max_age = max(0, int((grant.expires_at - now).total_seconds()))
    parts = [f"{cdn_signing.COOKIE_NAME}={grant.cookie_value}", f"Path={grant.cookie_path}", f"Max-Age={max_age}"]
    if domain:
        parts.append(f"Domain={domain}")
    parts.append("HttpOnly")
    parts += ["Secure", "SameSite=None"] if signer.scheme == "https" else ["SameSite=Lax"]
    return "; ".join(parts)
