"""Spec 3.2: chunked uploads. Chunk bytes go straight to Cloud Storage through V4 signed URLs.

Checksums, as written on the wire:
    chunkChecksums (start)   per chunk, MD5 as base64 (the Content-MD5 form, 24 chars) or as 32 hex digits;
                             answered back in ``checksums`` as base64 and bound into each chunk's signed URL.
    X-Chunk-Checksum (chunk) hex MD5 (32 digits) or hex SHA-256 (64 digits) of the chunk bytes.
    finalChecksum (complete) hex MD5 (32 digits) or hex SHA-256 (64 digits) of the whole file, verified by a
                             streaming read of the composed object; or ``crc32c:<base64>`` (the big-endian CRC32C
                             in base64, as Cloud Storage reports it), compared with what storage computed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from . import text
from ._base import RequestModel, ResponseModel
from .metadata import LANGUAGE_PATTERN, Description, Language, SeriesName, Tag, Title

MIB = 1024 * 1024
MAX_UPLOAD_BYTES = 2 * 1024 * MIB
CHUNK_ALIGNMENT = 256 * 1024  # what kstream's own clients round chunks to (any size is accepted)
DEFAULT_CHUNK_SIZE = 5 * MIB
MIN_CHUNK_SIZE = CHUNK_ALIGNMENT
MAX_CHUNK_SIZE = 512 * MIB
MAX_CHUNKS = 1024
MAX_API_CHUNK_SIZE = 16 * MIB  # the chunk endpoint: Cloud Run functions cap request bodies at 32 MiB
SESSION_HOURS = 24
# Every container the Transcoder API documents as a video input (MP4/MOV, MKV/WebM, MPEG2-TS, AVI, WMV/ASF,
# MXF OP1a, GXF), as the extensions uploaders' files carry; docs/decisions/0007-accepted-sources.md.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".3gp", ".mkv", ".webm", ".ts", ".m2ts", ".mts", ".avi", ".wmv", ".asf",
                    ".mxf", ".gxf")

UploadState = Literal["uploading", "completing", "completed", "failed", "expired"]


class UploadMetadata(RequestModel):
    title: Title
    series: SeriesName
    episode: int = Field(ge=0, le=100_000)
    description: Description | None = None
    language: str = Field("ko", min_length=2, max_length=35, pattern=LANGUAGE_PATTERN,
                          description="BCP 47 tag; defaults to ko.")
    subtitles: list[Language] | None = Field(None, max_length=50, description="BCP 47 tags of subtitle tracks.")
    tags: list[Tag] | None = Field(None, max_length=30)


class StartUploadRequest(RequestModel):
    filename: text.FileName = Field(
        description="Base name only (no '/', '\\' or control characters), ending in a video container extension the "
        f"Transcoder API takes: {', '.join(VIDEO_EXTENSIONS)}; another extension (FLV, audio-only, images, MPEG "
        "program streams) is 400 UPLOAD_INVALID_FORMAT whose message and details.supported list these.",
    )
    totalSize: int = Field(
        ge=1,
        description=f"File size in bytes, 1 to {MAX_UPLOAD_BYTES} (2 GiB); larger is 413 UPLOAD_FILE_TOO_LARGE.",
        json_schema_extra={"maximum": MAX_UPLOAD_BYTES},
    )
    chunkSize: int = Field(
        DEFAULT_CHUNK_SIZE,
        ge=MIN_CHUNK_SIZE,
        le=MAX_CHUNK_SIZE,
        description="Bytes per chunk (default 5 MiB; the spec's 'usually 5MB', 5000000, works as any size from "
        f"{MIN_CHUNK_SIZE} (256 KiB) to {MAX_CHUNK_SIZE} does); every chunk has this size but the last, which may "
        f"be shorter; ceil(totalSize/chunkSize) may not "
        f"exceed {MAX_CHUNKS}. Uploads that will use the chunk endpoint need chunkSize <= {MAX_API_CHUNK_SIZE} "
        "(16 MiB).",
    )
    metadata: UploadMetadata
    chunkChecksums: list[str] | None = Field(
        None,
        max_length=MAX_CHUNKS,
        description="Optional MD5 of each chunk, base64 (Content-MD5 form) or 32 hex digits, one per chunk. When "
        "given, each is bound into its chunk's signed URL, so storage itself rejects a corrupted chunk.",
    )


class StartUploadResponse(ResponseModel):
    uploadId: str
    videoId: str = Field(description="Extension: the video this upload creates, fixed at start; subtitle tracks may "
                         "be attached to it (PUT /api/videos/{videoId}/subtitles/{language}) before complete.")
    chunkUrls: list[str] = Field(
        description="One V4 signed PUT URL per chunk, in chunk order; chunk i covers bytes "
        "[i*chunkSize, min((i+1)*chunkSize, totalSize)). Without declared checksums a plain PUT of those bytes "
        "(any Content-Type) succeeds."
    )
    expiresAt: str = Field(description="ISO 8601 UTC; the URLs and the session expire then (24 h).")
    checksums: list[str] = Field(description="Expected base64 MD5 per chunk, empty strings where not declared.")
    chunkSize: int
    totalChunks: int
    requiredHeaders: list[dict[str, str]] = Field(
        description="Per chunk, the headers its signature binds: the PUT must send each exactly (Content-MD5 when "
        "checksums were declared; empty otherwise)."
    )


class UploadChunkResponse(ResponseModel):
    chunkIndex: int
    received: bool
    checksum: str = Field(description="The verified X-Chunk-Checksum, lower-case hex.")
    missingChunks: list[int] | None = Field(None, description="Chunks not yet received; absent when none.")
    nextExpectedChunk: int | None = Field(None, description="The lowest missing chunk; absent when none.")


class UploadStatusResponse(ResponseModel):
    uploadId: str
    status: UploadState
    filename: str
    totalSize: int
    chunkSize: int
    totalChunks: int
    receivedChunks: list[int] = Field(description="Chunks present in storage with the right size (and MD5).")
    missingChunks: list[int]
    expiresAt: str
    videoId: str | None = None
    transcodingJobId: str | None = None


class CompleteUploadRequest(RequestModel):
    finalChecksum: str = Field(
        min_length=1,
        max_length=80,
        description="Checksum of the whole file: hex MD5 (32 hex digits), hex SHA-256 (64 hex digits), or "
        "'crc32c:' followed by the base64 big-endian CRC32C as storage reports it (e.g. 'crc32c:4waSgw==').",
    )


class CompleteUploadResponse(ResponseModel):
    uploadId: str
    videoId: str
    status: Literal["processing", "failed"]
    transcodingJobId: str | None = None
    estimatedCompletion: str | None = None
