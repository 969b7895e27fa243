"""Pure upload rules: names, chunk arithmetic, checksum forms, container sniffing. No I/O here.

Everything a request can get wrong is checked here and raised as the spec's error, so the service only
orchestrates storage and Firestore.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from contracts.upload import (
    MAX_CHUNKS,
    MAX_UPLOAD_BYTES,
    VIDEO_EXTENSIONS,
)

from ..errors import ErrorCode, KstreamError, RequestInvalid

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".3gp": "video/3gpp",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
}
assert set(CONTENT_TYPES) == set(VIDEO_EXTENSIONS)

CHUNK_OBJECT_DIGITS = 5
_HEX32 = re.compile(r"\A[0-9a-fA-F]{32}\Z")
_HEX64 = re.compile(r"\A[0-9a-fA-F]{64}\Z")
_B64_MD5 = re.compile(r"\A[A-Za-z0-9+/]{22}==\Z")
_UPLOAD_ID = re.compile(r"\A[0-9a-f]{32}\Z")
_STORAGE_UNSAFE = re.compile(r"[^\w.\- ]", re.UNICODE)

# Top-level ISO BMFF boxes a file may begin with (MP4, MOV, M4V, 3GP); QuickTime files may open with any of these.
_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"styp"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska / WebM
SNIFF_BYTES = 16


# -- names ---------------------------------------------------------------------------------------------------------
def clean_filename(raw: str) -> str:
    """The filename as stored: NFC, a base name without control characters; RequestInvalid otherwise."""
    name = unicodedata.normalize("NFC", raw.strip())
    if "/" in name or "\\" in name:
        raise RequestInvalid(f"filename must be a base name without '/' or '\\', found {raw!r}",
                             details={"field": "filename"})
    bad = [ch for ch in name if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    if bad:
        raise RequestInvalid(f"filename contains control characters ({', '.join(repr(ch) for ch in bad[:3])})",
                             details={"field": "filename"})
    if name in ("", ".", "..") or name.startswith("."):
        raise RequestInvalid(f"filename must name a file, found {raw!r}", details={"field": "filename"})
    if len(name.encode("utf-8")) > 255:
        raise RequestInvalid("filename is longer than 255 bytes in UTF-8", details={"field": "filename"})
    return name


def content_type_for(filename: str) -> str:
    """The video container type of ``filename`` from its extension; UPLOAD_INVALID_FORMAT otherwise."""
    dot = filename.rfind(".")
    extension = filename[dot:].lower() if dot > 0 else ""
    if extension not in CONTENT_TYPES:
        raise KstreamError(
            f"{filename!r} is not a supported video container; expected one of {', '.join(VIDEO_EXTENSIONS)}",
            code=ErrorCode.UPLOAD_INVALID_FORMAT,
            details={"field": "filename", "supported": list(VIDEO_EXTENSIONS)},
        )
    return CONTENT_TYPES[extension]


def storage_name(filename: str) -> str:
    """``filename`` made safe as the last segment of an object name (letters, digits, '.', '-', '_', space)."""
    safe = _STORAGE_UNSAFE.sub("_", filename).strip(" ")
    return safe or "source"


def valid_upload_id(upload_id: str) -> bool:
    return bool(_UPLOAD_ID.match(upload_id))


# -- chunk arithmetic ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkPlan:
    total_size: int
    chunk_size: int

    @property
    def count(self) -> int:
        return math.ceil(self.total_size / self.chunk_size)

    def size_of(self, index: int) -> int:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return min(self.chunk_size, self.total_size - index * self.chunk_size)

    def offset_of(self, index: int) -> int:
        return index * self.chunk_size


def chunk_plan(total_size: int, chunk_size: int) -> ChunkPlan:
    """The split of a file into chunks, or the spec's error for a size that cannot be accepted."""
    if total_size > MAX_UPLOAD_BYTES:
        raise KstreamError(
            f"totalSize {total_size} bytes exceeds the maximum of {MAX_UPLOAD_BYTES} bytes (2 GiB)",
            code=ErrorCode.UPLOAD_FILE_TOO_LARGE,
            details={"field": "totalSize", "maximum": MAX_UPLOAD_BYTES, "found": total_size},
        )
    plan = ChunkPlan(total_size, chunk_size)
    if plan.count > MAX_CHUNKS:
        smallest = math.ceil(total_size / MAX_CHUNKS / (256 * 1024)) * 256 * 1024
        raise RequestInvalid(
            f"{plan.count} chunks of {chunk_size} bytes exceed the limit of {MAX_CHUNKS} chunks; "
            f"use chunkSize >= {smallest}",
            details={"field": "chunkSize", "chunks": plan.count, "maxChunks": MAX_CHUNKS, "minChunkSize": smallest},
        )
    return plan


def chunk_index(raw: str, plan: ChunkPlan) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise RequestInvalid(f"chunkIndex must be a whole number, found {raw!r}", details={"field": "chunkIndex"})
    index = int(raw)
    if index >= plan.count:
        raise RequestInvalid(f"chunkIndex {index} is out of range: this upload has chunks 0 to {plan.count - 1}",
                             details={"field": "chunkIndex", "totalChunks": plan.count})
    return index


def chunk_object(upload_id: str, index: int) -> str:
    return f"{chunk_prefix(upload_id)}chunk-{index:0{CHUNK_OBJECT_DIGITS}d}"


def chunk_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}/"


def index_of_chunk_object(upload_id: str, name: str) -> int | None:
    prefix = chunk_prefix(upload_id) + "chunk-"
    tail = name[len(prefix):] if name.startswith(prefix) else ""
    return int(tail) if len(tail) == CHUNK_OBJECT_DIGITS and tail.isdigit() else None


# -- checksums ----------------------------------------------------------------------------------------------------
def md5_base64(value: str, *, field: str) -> str:
    """A declared chunk MD5 (base64 or 32 hex digits) in Content-MD5 form (base64)."""
    text = value.strip()
    if _HEX32.match(text):
        return base64.b64encode(bytes.fromhex(text)).decode()
    if _B64_MD5.match(text):
        try:
            if len(base64.b64decode(text, validate=True)) == 16:
                return text
        except binascii.Error:
            pass
    raise RequestInvalid(f"{field} must be an MD5 as base64 (24 characters) or 32 hex digits, found {value[:80]!r}",
                         details={"field": field})


def declared_chunk_md5s(values: list[str] | None, plan: ChunkPlan) -> list[str] | None:
    if values is None:
        return None
    if len(values) != plan.count:
        raise RequestInvalid(f"chunkChecksums has {len(values)} entries but the file has {plan.count} chunks",
                             details={"field": "chunkChecksums", "expected": plan.count, "found": len(values)})
    return [md5_base64(value, field=f"chunkChecksums.{i}") for i, value in enumerate(values)]


Algorithm = Literal["md5", "sha256", "crc32c"]


@dataclass(frozen=True)
class Checksum:
    algorithm: Algorithm
    value: str  # lower-case hex for md5/sha256; base64 for crc32c

    def __str__(self) -> str:
        return f"crc32c:{self.value}" if self.algorithm == "crc32c" else self.value


def chunk_checksum(header: str | None) -> Checksum:
    """The X-Chunk-Checksum header: hex MD5 or hex SHA-256."""
    if not header:
        raise RequestInvalid("X-Chunk-Checksum header is required: hex MD5 (32 digits) or hex SHA-256 (64 digits) "
                             "of the chunk", details={"field": "X-Chunk-Checksum"})
    text = header.strip()
    if _HEX32.match(text):
        return Checksum("md5", text.lower())
    if _HEX64.match(text):
        return Checksum("sha256", text.lower())
    raise RequestInvalid(f"X-Chunk-Checksum must be 32 (MD5) or 64 (SHA-256) hex digits, found {text[:80]!r}",
                         details={"field": "X-Chunk-Checksum"})


def final_checksum(value: str) -> Checksum:
    """finalChecksum: hex MD5, hex SHA-256, or ``crc32c:`` + base64 of the 4-byte big-endian CRC32C."""
    text = value.strip()
    if _HEX32.match(text):
        return Checksum("md5", text.lower())
    if _HEX64.match(text):
        return Checksum("sha256", text.lower())
    if text.lower().startswith("crc32c:"):
        encoded = text[len("crc32c:"):]
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) == 4:
            return Checksum("crc32c", base64.b64encode(raw).decode())
    raise RequestInvalid(
        "finalChecksum must be hex MD5 (32 digits), hex SHA-256 (64 digits) or 'crc32c:' + base64 CRC32C, "
        f"found {text[:80]!r}",
        details={"field": "finalChecksum"},
    )


# -- containers ---------------------------------------------------------------------------------------------------
def sniff_container(head: bytes) -> str | None:
    """'iso-bmff' or 'matroska' when the first bytes look like a container we transcode, else None."""
    if head[:4] == _EBML_MAGIC:
        return "matroska"
    if len(head) >= 8 and head[4:8] in _ISO_FIRST_BOXES:
        return "iso-bmff"
    return None
