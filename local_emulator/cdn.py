"""The local Cloud CDN: the media bucket behind a backend bucket with signed requests required.

``GET|HEAD /media/<object name>`` on the gateway answers the object ``<object name>`` of the media bucket in
fake-gcs-server, once the request is authorised as Cloud CDN documents it (kstream.cdn_signing): a signed URL
(``...?Expires=&KeyName=&Signature=``), a signed URL prefix (``...?URLPrefix=&Expires=&KeyName=&Signature=``) or a
``Cloud-CDN-Cookie``. A tampered, expired, foreign-key or missing signature is a 403 that is not cached. (Cloud CDN
itself forwards unsigned requests to the origin, which refuses them for a private bucket: the same 403 here.)

Bytes stream from the storage emulator in 1 MiB pieces; nothing is held whole in memory. ``Range`` (RFC 9110
section 14): one ``bytes`` range (first-last, first-, -suffix) is a 206 with ``Content-Range``; a range that starts
past the end is a 416 with ``Content-Range: bytes */<size>``; several ranges, another unit or a malformed header are
ignored (200, the whole object), as RFC 9110 allows; ``If-Range`` that does not match the object's ETag or
Last-Modified also means the whole object.

Caching: the object's own ``Cache-Control`` metadata when it has one (as Cloud CDN does), otherwise
``public, max-age=3600`` for segments and files and ``private, max-age=60`` for manifests (.m3u8, .mpd).

CORS: the ``Origin`` is echoed with ``Access-Control-Allow-Credentials: true`` (players send the cookie with
``withCredentials``), ``Range`` is an allowed request header, and ``Content-Range``, ``Content-Length`` and
``Accept-Ranges`` are exposed. Preflights need no signature (a browser sends no cookie with them).
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import ClientSession, client_exceptions, web
from kstream import cdn_signing
from kstream.settings import Settings

from .stack import StackConfig

__all__ = ["MOUNT", "ByteRange", "LocalCdn", "Unsatisfiable", "cdn_keys", "parse_range"]

MOUNT = "/media/"
PIECE = 1 << 20
SEGMENT_CACHE_CONTROL = "public, max-age=3600"
MANIFEST_CACHE_CONTROL = "private, max-age=60"
NO_STORE = "no-store"
MANIFEST_SUFFIXES = (".m3u8", ".m3u", ".mpd")
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m3u": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".ts": "video/mp2t",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
}
ALLOWED_REQUEST_HEADERS = "Range, If-Range, If-None-Match, If-Modified-Since"
EXPOSED_HEADERS = "Content-Range, Content-Length, Accept-Ranges, ETag"

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------------ ranges


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class Unsatisfiable(Exception):
    """A single byte range that selects nothing of the object (416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range ``header`` asks of an object of ``size`` bytes, or None for the whole object.

    Raises Unsatisfiable for a syntactically valid single range that selects no byte (first-pos at or past the
    end, a zero-length suffix, any range of an empty object).
    """
    if not header:
        return None
    if "," in header:
        return None  # several ranges: served whole (a multipart/byteranges answer is not offered)
    found = _RANGE.match(header)
    if not found:
        return None  # another unit, or not a range at all: ignored
    first, last = found.group(1), found.group(2)
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range-spec: ignored
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, min(end, size - 1))


def _if_range_allows(if_range: str | None, etag: str | None, last_modified: datetime | None) -> bool:
    """Whether a Range may be honoured under ``If-Range`` (RFC 9110 section 13.1.5)."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        return bool(etag) and not value.startswith("W/") and value == etag
    if last_modified is None:
        return False
    try:
        return parsedate_to_datetime(value) == last_modified.replace(microsecond=0)
    except (TypeError, ValueError):
        return False


# -------------------------------------------------------------------------------------------------------- keys


def cdn_keys(cfg: StackConfig) -> dict[str, bytes]:
    """The signing keys the CDN accepts: {key name: key}, from the stack's key file (or KSTREAM_CDN_KEY_SECRET)
    under KSTREAM_CDN_KEY_NAME (default: the settings' default name, as the functions use)."""
    secret = cfg.cdn_key_file.read_text().strip() if cfg.cdn_key_file.exists() else ""
    secret = secret or os.environ.get("KSTREAM_CDN_KEY_SECRET", "")
    if not secret:
        raise RuntimeError(f"no Cloud CDN key: {cfg.cdn_key_file} is missing and KSTREAM_CDN_KEY_SECRET is unset")
    name = os.environ.get("KSTREAM_CDN_KEY_NAME") or str(Settings.model_fields["cdn_key_name"].default)
    return {name: cdn_signing.decode_key(secret)}


# --------------------------------------------------------------------------------------------------------- CDN


@dataclass(frozen=True)
class _Object:
    size: int
    content_type: str
    etag: str | None
    last_modified: datetime | None
    generation: str | None
    cache_control: str | None


class LocalCdn:
    """Cloud CDN in front of the media bucket, for the gateway (``handle`` answers ``/media/...``)."""

    def __init__(self, cfg: StackConfig, keys: Mapping[str, bytes] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.gcs_url = cfg.gcs_url
        self.bucket = cfg.media_bucket
        self.keys = dict(keys) if keys is not None else cdn_keys(cfg)
        self.clock = clock

    # -- entry ------------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request, session: ClientSession) -> web.StreamResponse:
        cors = self._cors(request)
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={
                **cors,
                "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
                "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                "Access-Control-Max-Age": "3600",
            })
        if request.method not in ("GET", "HEAD"):
            return self._error(405, "MethodNotAllowed", f"{request.method} is not served by the CDN", cors,
                               {"Allow": "GET, HEAD, OPTIONS"})
        url = f"{request.scheme}://{request.host}{request.raw_path}"
        try:
            cdn_signing.verify_request(url, request.headers.get("Cookie"), self.keys, self.clock(),
                                       method=request.method)
        except cdn_signing.CdnSignatureError as refused:
            return self._error(403, "Forbidden", f"Cloud CDN refused the request: {refused.reason}", cors)
        name = unquote(request.raw_path.split("?", 1)[0][len(MOUNT):])
        if not name or name.endswith("/") or "\x00" in name:
            return self._error(404, "NoSuchKey", "No object at this URL", cors)
        try:
            found = await self._metadata(session, name)
            if found is None:
                return self._error(404, "NoSuchKey", "The specified key does not exist.", cors)
            return await self._answer(request, session, name, found, cors)
        except (TimeoutError, client_exceptions.ClientError, ValueError) as exc:
            return self._error(502, "BadGateway", f"the media bucket did not answer ({type(exc).__name__})", cors)

    # -- answers ----------------------------------------------------------------------------------------------
    async def _answer(self, request: web.Request, session: ClientSession, name: str, obj: _Object,
                      cors: dict[str, str]) -> web.StreamResponse:
        headers = {
            **cors,
            "Accept-Ranges": "bytes",
            "Content-Type": obj.content_type,
            "Cache-Control": obj.cache_control or (
                MANIFEST_CACHE_CONTROL if name.lower().endswith(MANIFEST_SUFFIXES) else SEGMENT_CACHE_CONTROL),
        }
        if obj.etag:
            headers["ETag"] = obj.etag
        if obj.last_modified:
            headers["Last-Modified"] = format_datetime(obj.last_modified, usegmt=True)
        wanted: ByteRange | None = None
        if _if_range_allows(request.headers.get("If-Range"), obj.etag, obj.last_modified):
            try:
                wanted = parse_range(request.headers.get("Range"), obj.size)
            except Unsatisfiable:
                headers.update({"Content-Range": f"bytes */{obj.size}", "Cache-Control": NO_STORE})
                headers.pop("Content-Type")
                return web.Response(status=416, headers=headers)
        status, length = (206, wanted.length) if wanted else (200, obj.size)
        if wanted:
            headers["Content-Range"] = wanted.content_range(obj.size)
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        if request.method == "HEAD" or length == 0:
            await response.prepare(request)
            await response.write_eof()
            return response
        upstream_headers = {"Range": f"bytes={wanted.start}-{wanted.end}"} if wanted else {}
        params = {"alt": "media", **({"generation": obj.generation} if obj.generation else {})}
        async with session.get(self._object_url(name), params=params, headers=upstream_headers,
                               auto_decompress=False) as upstream:
            if upstream.status == 404:
                return self._error(404, "NoSuchKey", "The specified key does not exist.", cors)
            if upstream.status not in (200, 206):
                return self._error(502, "BadGateway", f"the media bucket answered {upstream.status}", cors)
            # A 200 to a range request carries the whole object: skip to the range's first byte.
            skip = wanted.start if wanted and upstream.status == 200 else 0
            await response.prepare(request)
            remaining = length
            async for piece in upstream.content.iter_chunked(PIECE):
                if skip:
                    dropped = min(skip, len(piece))
                    piece, skip = piece[dropped:], skip - dropped
                if not piece:
                    continue
                piece = piece[:remaining]
                await response.write(piece)
                remaining -= len(piece)
                if remaining <= 0:
                    break
        await response.write_eof()
        return response

    async def _metadata(self, session: ClientSession, name: str) -> _Object | None:
        async with session.get(self._object_url(name)) as found:
            if found.status == 404:
                return None
            if found.status != 200:
                raise client_exceptions.ClientResponseError(found.request_info, (), status=found.status)
            meta: dict[str, Any] = json.loads(await found.read())
        updated = meta.get("updated")
        return _Object(
            size=int(meta["size"]),
            content_type=_content_type(name, meta.get("contentType")),
            etag=f'"{meta["etag"]}"' if meta.get("etag") else None,
            last_modified=datetime.fromisoformat(updated.replace("Z", "+00:00")) if updated else None,
            generation=str(meta["generation"]) if meta.get("generation") else None,
            cache_control=meta.get("cacheControl") or None,
        )

    def _object_url(self, name: str) -> str:
        return f"{self.gcs_url}/storage/v1/b/{quote(self.bucket, safe='')}/o/{quote(name, safe='')}"

    # -- helpers ----------------------------------------------------------------------------------------------
    @staticmethod
    def _cors(request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        headers = {"Access-Control-Expose-Headers": EXPOSED_HEADERS, "Vary": "Origin"}
        if origin:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
        else:
            headers["Access-Control-Allow-Origin"] = "*"
        return headers

    @staticmethod
    def _error(status: int, code: str, message: str, cors: dict[str, str],
               extra: dict[str, str] | None = None) -> web.Response:
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{_xml_text(message)}" \
            "</Message></Error>"
        headers = {**cors, "Cache-Control": NO_STORE, **(extra or {})}
        return web.Response(status=status, text=body, content_type="application/xml", headers=headers)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _content_type(name: str, stored: str | None) -> str:
    """The stored Content-Type, unless it is missing or generic; then the one players expect for the extension."""
    if stored and stored.split(";")[0].strip().lower() not in ("application/octet-stream", "binary/octet-stream"):
        return stored
    suffix = os.path.splitext(name)[1].lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
