"""Spec 3.2 handlers: upload-start, upload-chunk, upload-status, upload-complete. Parse, delegate, answer."""

from __future__ import annotations

import tempfile
from typing import IO

import flask
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from contracts.upload import (
    MAX_API_CHUNK_SIZE,
    CompleteUploadRequest,
    CompleteUploadResponse,
    StartUploadRequest,
    UploadChunkResponse,
    UploadStatusResponse,
)

from ..errors import RequestInvalid
from ..http import ApiRequest, json_response
from ..uploads import service_for

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the one file field
PIECE = 1 << 20


def start(request: ApiRequest) -> flask.Response:
    """POST /api/upload/start"""
    body = request.json(StartUploadRequest)
    started = service_for(request.settings).start(request.user, body)
    return json_response(started.response, headers=started.headers)


def chunk(request: ApiRequest) -> UploadChunkResponse:
    """POST /api/upload/chunk/{uploadId}/{chunkIndex}: multipart/form-data field ``chunk``, or a raw body."""
    service = service_for(request.settings)
    target = service.chunk_target(request.user, request.params["uploadId"], request.params["chunkIndex"])
    data, size = _chunk_body(request.raw, target.size)
    try:
        return service.store_chunk(target, data, size, request.raw.headers.get("X-Chunk-Checksum"))
    finally:
        data.close()


def status(request: ApiRequest) -> UploadStatusResponse:
    """GET /api/upload/status/{uploadId}"""
    return service_for(request.settings).status(request.user, request.params["uploadId"])


def complete(request: ApiRequest) -> CompleteUploadResponse:
    """POST /api/upload/complete/{uploadId}"""
    body = request.json(CompleteUploadRequest)
    return service_for(request.settings).complete(request.user, request.params["uploadId"], body,
                                                  request_id=request.request_id)


def _chunk_body(raw: flask.Request, expected: int) -> tuple[IO[bytes], int]:
    """The chunk bytes in a spool (one chunk at most, never more than ``expected`` + 1 bytes read) and their size."""
    mimetype = (raw.mimetype or "").lower()
    if mimetype == "multipart/form-data":
        cap = expected + MULTIPART_OVERHEAD
        _refuse_declared_length(raw, cap, expected)
        raw.max_content_length = cap
        try:
            files = raw.files
        except RequestEntityTooLarge:
            raise _too_big(expected) from None
        except ClientDisconnected:
            raise RequestInvalid("The request body ended before its Content-Length") from None
        part = files.get("chunk")
        if part is None:
            raise RequestInvalid("multipart/form-data body has no file field 'chunk'", details={"field": "chunk"})
        return _spool(part.stream, expected)
    if mimetype in ("application/octet-stream", ""):
        _refuse_declared_length(raw, expected, expected)
        try:
            return _spool(raw.stream, expected)
        except ClientDisconnected:
            raise RequestInvalid("The request body ended before its Content-Length") from None
    raise RequestInvalid(f"Content-Type must be multipart/form-data (field 'chunk') or application/octet-stream, "
                         f"found {raw.content_type!r}", details={"field": "Content-Type"})


def _refuse_declared_length(raw: flask.Request, cap: int, expected: int) -> None:
    if raw.content_length is not None and raw.content_length > cap:
        raise _too_big(expected)


def _too_big(expected: int) -> RequestInvalid:
    return RequestInvalid(f"The chunk body is larger than this chunk's {expected} bytes",
                          details={"expected": expected, "maxChunkSize": MAX_API_CHUNK_SIZE})


def _spool(stream: IO[bytes], expected: int) -> tuple[IO[bytes], int]:
    spool = tempfile.SpooledTemporaryFile(max_size=MAX_API_CHUNK_SIZE)  # noqa: SIM115 (the caller closes it)
    size = 0
    try:
        while piece := stream.read(min(PIECE, expected + 1 - size)):
            size += len(piece)
            spool.write(piece)
            if size > expected:
                raise _too_big(expected)
    except BaseException:
        spool.close()
        raise
    return spool, size
