"""Spec 3.2: chunked uploads. Chunk bytes go straight to Cloud Storage through V4 signed URLs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import RequestModel, ResponseModel

MIB = 1024 * 1024
MAX_UPLOAD_BYTES = 2 * 1024 * MIB
CHUNK_ALIGNMENT = 256 * 1024
DEFAULT_CHUNK_SIZE = 5 * MIB
MIN_CHUNK_SIZE = CHUNK_ALIGNMENT
MAX_CHUNK_SIZE = 512 * MIB
MAX_CHUNKS = 1024


class UploadMetadata(RequestModel):
    title: str = Field(min_length=1, max_length=300)
    series: str = Field(min_length=1, max_length=300)
    episode: int = Field(ge=0, le=100_000)
    description: str | None = Field(None, max_length=10_000)
    language: str = Field("ko", min_length=2, max_length=35, description="BCP 47 tag; defaults to ko.")
    subtitles: list[str] | None = Field(None, max_length=50, description="BCP 47 tags of subtitle tracks.")
    tags: list[str] | None = Field(None, max_length=30)


class StartUploadRequest(RequestModel):
    filename: str = Field(min_length=1, max_length=255, description="Base name only: no paths, no control chars.")
    totalSize: int = Field(
        ge=1,
        description=f"File size in bytes, 1 to {MAX_UPLOAD_BYTES} (2 GiB); larger is 413 UPLOAD_FILE_TOO_LARGE.",
        json_schema_extra={"maximum": MAX_UPLOAD_BYTES},
    )
    chunkSize: int = Field(
        DEFAULT_CHUNK_SIZE,
        ge=MIN_CHUNK_SIZE,
        le=MAX_CHUNK_SIZE,
        multiple_of=CHUNK_ALIGNMENT,
        description="Bytes per chunk, a multiple of 256 KiB; the chunk count may not exceed 1024.",
    )
    metadata: UploadMetadata
    chunkChecksums: list[str] | None = Field(
        None,
        description="Optional base64 MD5 of each chunk (Content-MD5 form). When given, each is bound into its "
        "chunk's signed URL, so storage itself rejects a corrupted chunk.",
    )


class StartUploadResponse(ResponseModel):
    uploadId: str
    chunkUrls: list[str] = Field(description="One V4 signed PUT URL per chunk, in chunk order.")
    expiresAt: str = Field(description="ISO 8601 UTC; the URLs and the session expire then (24 h).")
    checksums: list[str] = Field(description="Expected base64 MD5 per chunk, empty strings where not declared.")
    chunkSize: int
    requiredHeaders: list[dict[str, str]] = Field(
        description="Headers each chunk PUT must send exactly (bound by its signature), per chunk."
    )


class UploadChunkResponse(ResponseModel):
    chunkIndex: int
    received: bool
    checksum: str
    missingChunks: list[int] | None = None
    nextExpectedChunk: int | None = None


class UploadStatusResponse(ResponseModel):
    uploadId: str
    status: Literal["uploading", "completing", "completed", "failed", "expired"]
    totalChunks: int
    receivedChunks: list[int]
    missingChunks: list[int]
    expiresAt: str
    videoId: str | None = None


class CompleteUploadRequest(RequestModel):
    finalChecksum: str = Field(
        min_length=1,
        description="Checksum of the whole file: hex MD5 (32 hex digits), hex SHA-256 (64 hex digits), or "
        "'crc32c:' followed by the base64 CRC32C as storage reports it.",
    )


class CompleteUploadResponse(ResponseModel):
    uploadId: str
    videoId: str
    status: Literal["processing", "failed"]
    transcodingJobId: str | None = None
    estimatedCompletion: str | None = None
