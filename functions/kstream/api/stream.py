"""Spec 3.4 GET /api/stream/{videoId}: parse the query, delegate to the streaming service, answer.

A manifest answer is ``private, max-age=60`` (its URIs carry signatures for this caller), says ``Accept-Ranges:
bytes`` as the spec shows (a ``Range`` is answered 206, or 416) and sets the ``Cloud-CDN-Cookie`` for the video's
CDN prefix; ``format=mp4`` is a 302 to the signed CDN URL of the progressive
file, so the bytes (and any ``Range`` the client re-sends) go to the CDN, never through this function.

The caller is a bearer token's user or, without ``Authorization``, the holder of a playback ``token`` (the query
of the catalogue's ``streamingUrls`` and of every playlist URI in the masters answered here), so a bare player
(AVPlayer, ExoPlayer, ffmpeg) plays from the URL alone; ``playlist=`` asks for one media playlist of the video.
"""

from __future__ import annotations

import flask
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

from contracts.stream import StreamQuery

from ..adapters import firestore, storage
from ..catalog.repository import CatalogRepository
from ..catalog.visibility import Viewer
from ..http import ApiRequest
from ..settings import Settings, per_settings
from ..streaming import GcsMediaStore, ManifestCache, MediaSigner, StreamService, set_cookie_header

MANIFEST_CACHE_CONTROL = "private, max-age=60"
REDIRECT_CACHE_CONTROL = "private, no-store"


@per_settings
def _service(settings: Settings) -> StreamService:
    """The process's stream service: clients, the CDN signer and the manifest cache, built on the first request."""
    return StreamService(
        videos=CatalogRepository(firestore.client(settings)),
        media=GcsMediaStore(storage.client(settings).bucket(settings.media_bucket)),
        signer=MediaSigner.from_settings(settings),
        manifests=ManifestCache(),
    )


def _viewer(request: ApiRequest) -> Viewer | None:
    """The bearer token's caller (authenticated by the wrapper); None for a request the wrapper let through on its
    playback token (the function list's ``playback_token``), which the service then checks."""
    return Viewer.of(request.principal) if request.principal is not None else None


def _stream_url(raw: flask.Request) -> str:
    """This endpoint's URL for the video as the client reached it (load balancer or gateway), without the query."""
    scheme = (raw.headers.get("X-Forwarded-Proto") or raw.scheme).split(",")[0].strip()
    host = (raw.headers.get("X-Forwarded-Host") or raw.host).split(",")[0].strip()
    return f"{scheme}://{host}{raw.path}"


def _with_usable_range(raw: flask.Request) -> dict[str, object]:
    """The request's WSGI environ without its ``Range`` header when that header is malformed (empty, another unit,
    bad numbers): RFC 9110 section 14.2 lets a server ignore such a header, and the whole manifest (200) is a better
    answer than a 416 to a client that asked nothing satisfiable-or-not. A well-formed range past the end stays 416."""
    environ = dict(raw.environ)
    if "HTTP_RANGE" in environ:
        asked = parse_range_header(environ["HTTP_RANGE"])
        if asked is None or asked.units != "bytes":
            del environ["HTTP_RANGE"]
    return environ


def stream_video(request: ApiRequest) -> flask.Response:
    query = request.query(StreamQuery)
    viewer = _viewer(request)
    service = _service(request.settings)
    video_id = request.params["videoId"]
    answer = service.open(viewer, video_id, query, stream_url=_stream_url(request.raw), token=query.token,
                          playlist=query.playlist, playlist_links=request.spec.playback_token)
    if answer.location is not None:
        response = flask.Response(status=302)
        response.headers["Location"] = answer.location
        response.headers["Cache-Control"] = REDIRECT_CACHE_CONTROL
        return response
    response = flask.Response(answer.body, status=200, content_type=answer.media_type)
    response.headers["Cache-Control"] = MANIFEST_CACHE_CONTROL
    try:  # Accept-Ranges: bytes, as the spec shows; a Range on a manifest is answered 206 like any file
        response.make_conditional(_with_usable_range(request.raw), accept_ranges=True,
                                  complete_length=len(response.get_data()))
    except RequestedRangeNotSatisfiable:
        response = flask.Response(status=416)
        response.headers["Content-Range"] = f"bytes */{len(answer.body or '')}"
        response.headers["Accept-Ranges"] = "bytes"
        return response
    if answer.grant is not None and viewer is not None:
        api_host = (request.raw.headers.get("X-Forwarded-Host") or request.raw.host).split(",")[0].strip()
        cookie = set_cookie_header(answer.grant, service.signer, api_host, service.clock())
        if cookie:
            response.headers["Set-Cookie"] = cookie
    return response
