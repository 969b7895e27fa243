"""Spec 3.4 GET /api/stream/{videoId}: parse the query, delegate to the streaming service, answer.

A manifest answer is ``private, max-age=60`` (its URIs carry signatures for this caller), says ``Accept-Ranges:
bytes`` as the spec shows (a ``Range`` is answered 206, or 416) and sets the ``Cloud-CDN-Cookie`` for the video's
CDN prefix; ``format=mp4`` is a 302 to the signed CDN URL of the progressive
file, so the bytes (and any ``Range`` the client re-sends) go to the CDN, never through this function.
"""

from __future__ import annotations

import flask
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from contracts.stream import StreamQuery

from ..adapters import firestore, storage
from ..catalog.repository import CatalogRepository
from ..catalog.service import Viewer
from ..http import ApiRequest
from ..settings import Settings
from ..streaming import GcsMediaStore, MediaSigner, StreamService, set_cookie_header

MANIFEST_CACHE_CONTROL = "private, max-age=60"
REDIRECT_CACHE_CONTROL = "private, no-store"


def _service(settings: Settings) -> StreamService:
    return StreamService(
        videos=CatalogRepository(firestore.client(settings)),
        media=GcsMediaStore(storage.client(settings).bucket(settings.media_bucket)),
        signer=MediaSigner.from_settings(settings),
    )


def stream_video(request: ApiRequest) -> flask.Response:
    query = request.query(StreamQuery)
    service = _service(request.settings)
    answer = service.open(Viewer.of(request.user), request.params["videoId"], query)
    if answer.location is not None:
        response = flask.Response(status=302)
        response.headers["Location"] = answer.location
        response.headers["Cache-Control"] = REDIRECT_CACHE_CONTROL
        return response
    response = flask.Response(answer.body, status=200, content_type=answer.media_type)
    response.headers["Cache-Control"] = MANIFEST_CACHE_CONTROL
    try:  # Accept-Ranges: bytes, as the spec shows; a Range on a manifest is answered 206 like any file
        response.make_conditional(request.raw, accept_ranges=True, complete_length=len(response.get_data()))
    except RequestedRangeNotSatisfiable:
        response = flask.Response(status=416)
        response.headers["Content-Range"] = f"bytes */{len(answer.body or '')}"
        response.headers["Accept-Ranges"] = "bytes"
        return response
    if answer.grant is not None:
        api_host = (request.raw.headers.get("X-Forwarded-Host") or request.raw.host).split(",")[0].strip()
        cookie = set_cookie_header(answer.grant, service.signer, api_host, service.clock())
        if cookie:
            response.headers["Set-Cookie"] = cookie
    return response
