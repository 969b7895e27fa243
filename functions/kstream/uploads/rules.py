"""Pure upload rules: names, chunk arithmetic, checksum forms, container sniffing. No I/O here.

Everything a request can get wrong is checked here and raised as the spec's error, so the service only
orchestrates storage and Firestore.

Which files are videos we take (docs/decisions/0007-accepted-sources.md): the containers the Transcoder API lists
as video inputs, by extension at ``upload/start`` (``content_type_for``) and by their first bytes at
``upload/complete`` (``sniff_container``). Extensions and signatures of things that are not such a video (FLV,
audio-only files, images, MPEG program streams, subtitle files, documents) are refused with a reason that names
what the file is and lists the accepted extensions.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
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
    ".ts": "video/mp2t",  # MPEG-2 transport stream (broadcast recordings)
    ".m2ts": "video/mp2t",  # Blu-ray / AVCHD: 192-byte transport packets
    ".mts": "video/mp2t",  # AVCHD camcorders
    ".avi": "video/x-msvideo",
    ".wmv": "video/x-ms-wmv",
    ".asf": "video/x-ms-asf",
    ".mxf": "application/mxf",  # RFC 4539
    ".gxf": "video/x-gxf",  # SMPTE 360M; no registered media type
}
assert set(CONTENT_TYPES) == set(VIDEO_EXTENSIONS)

_AUDIO_ONLY = "audio-only uploads are not videos; upload the episode's video file"
_IMAGE = "image files are not videos"
# Extensions we know and refuse at upload/start, with the reason the uploader reads.
REFUSED_EXTENSIONS: dict[str, str] = {
    ".flv": "FLV is not accepted by the Transcoder API; remux it to .mp4 (ffmpeg -i in.flv -c copy out.mp4)",
    ".f4v": "FLV (F4V) is not accepted by the Transcoder API; remux it to .mp4",
    **{ext: _AUDIO_ONLY for ext in (".mp3", ".wav", ".aac", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".wma",
                                    ".ac3", ".aiff", ".aif")},
    **{ext: _IMAGE for ext in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".heic", ".heif", ".avif", ".bmp",
                               ".tif", ".tiff")},
    **{ext: "MPEG program streams are not an input the Transcoder API documents; remux to .ts "
            "(ffmpeg -i in.mpg -c copy out.ts)" for ext in (".mpg", ".mpeg", ".vob", ".m2v")},
    **{ext: "subtitle files are attached to an episode, not uploaded as its video"
       for ext in (".srt", ".vtt", ".smi", ".sami", ".ass", ".ssa")},
}
CHUNK_OBJECT_DIGITS = 5
_HEX32 = re.compile(r"\A[0-9a-fA-F]{32}\Z")
_HEX64 = re.compile(r"\A[0-9a-fA-F]{64}\Z")
_B64_MD5 = re.compile(r"\A[A-Za-z0-9+/]{22}==\Z")
_UPLOAD_ID = re.compile(r"\A[0-9a-f]{32}\Z")
_STORAGE_UNSAFE = re.compile(r"[^\w.\- ]", re.UNICODE)

# Top-level ISO BMFF boxes a file may begin with (MP4, MOV, M4V, 3GP); QuickTime files may open with any of these.
_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"styp"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska / WebM
# MXF (SMPTE 377M) may open with a run-in of up to 64 KiB before the header partition pack: read that much, so
# every signature below (and a whole ASF header object, usually a few KiB) is in the sniffed head.
MXF_MAX_RUN_IN = 65_536
SNIFF_BYTES = MXF_MAX_RUN_IN + 256


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


def _accepted() -> str:
    return f"accepted extensions: {', '.join(VIDEO_EXTENSIONS)}"


def content_type_for(filename: str) -> str:
    """The video container type of ``filename`` from its extension; UPLOAD_INVALID_FORMAT (naming what the file
    is when the extension says so, and listing the accepted extensions) otherwise."""
    dot = filename.rfind(".")
    extension = filename[dot:].lower() if dot > 0 else ""
    if extension not in CONTENT_TYPES:
        why = REFUSED_EXTENSIONS.get(extension, "not a video container the Transcoder API takes")
        shown = extension or "no extension"
        raise KstreamError(
            f"{filename!r} cannot be uploaded ({shown}): {why}; {_accepted()}",
            code=ErrorCode.UPLOAD_INVALID_FORMAT,
            details={"field": "filename", "extension": extension or None, "reason": why,
                     "supported": list(VIDEO_EXTENSIONS)},
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
# Magic numbers, not a parser: a few fixed bytes per format, checked where the format puts them. The probe
# (transcode/media_probe.py, MediaInfo) reads the whole header later and decides on tracks and codecs.
_TS_PACKET = 188
_M2TS_PACKET = 192  # a 4-byte arrival timestamp, then a transport packet
_TS_SYNC = 0x47
_TS_MIN_PACKETS = 3
_ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_ASF_VIDEO_MEDIA = bytes.fromhex("c0ef19bc4d5bcf11a8fd00805f5c442b")  # ASF_Video_Media stream type
_ASF_AUDIO_MEDIA = bytes.fromhex("409e69f84d5bcf11a8fd00805f5c442b")  # ASF_Audio_Media stream type
_MXF_HEADER_PARTITION = bytes.fromhex("060e2b34020501010d0102010102")  # + partition status, then 0x00
# operational pattern UL: 06 0E 2B 34 04 01 01 <registry version> 0D 01 02 01 <item complexity> <package complexity>
_MXF_OP_PREFIX, _MXF_OP_GROUP = bytes.fromhex("060e2b34040101"), bytes.fromhex("0d010201")
_GXF_LEADER = b"\x00\x00\x00\x00\x01"
_GXF_MAP = 0xBC
_GXF_TRAILER = b"\xe1\xe2"
_ISO_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_ISO_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"jpeg"}


def _refuse(what: str, advice: str, detected: str) -> KstreamError:
    return KstreamError(
        f"the uploaded file is {what}: {advice}; {_accepted()}",
        code=ErrorCode.UPLOAD_INVALID_FORMAT,
        details={"field": "file", "detected": detected, "supported": list(VIDEO_EXTENSIONS)},
    )


def _transport_stream(head: bytes) -> str | None:
    for kind, size, offset in (("mpeg-ts", _TS_PACKET, 0), ("m2ts", _M2TS_PACKET, 4)):
        packets = (len(head) - offset) // size
        if packets >= 1 and all(head[offset + i * size] == _TS_SYNC for i in range(min(packets, 64))) and (
            packets >= _TS_MIN_PACKETS or len(head) - offset == packets * size
        ):
            return kind
    return None


def _ber_length(head: bytes, pos: int) -> tuple[int, int] | None:
    """(length, bytes used) of an MXF KLV length (BER short or long form) at ``pos``."""
    if pos >= len(head):
        return None
    first = head[pos]
    if first < 0x80:
        return first, 1
    count = first & 0x7F
    if not 1 <= count <= 8 or pos + 1 + count > len(head):
        return None
    return int.from_bytes(head[pos + 1 : pos + 1 + count], "big"), 1 + count


def _mxf(head: bytes) -> str | None:
    """'mxf' for an OP1a (or unreadable-pattern) MXF file; refuses OP-Atom and the other patterns; None if not MXF."""
    at = head.find(_MXF_HEADER_PARTITION, 0, MXF_MAX_RUN_IN + len(_MXF_HEADER_PARTITION))
    if at < 0:
        return None
    ber = _ber_length(head, at + 16)
    # partition pack value: 2+2 version, 4 KAG, 5 x 8 offsets/counts, 4 IndexSID, 8 BodyOffset, 4 BodySID = 64
    op = at + 16 + ber[1] + 64 if ber else -1
    if ber and op + 16 <= len(head) and head[op : op + 7] == _MXF_OP_PREFIX and head[op + 8 : op + 12] == _MXF_OP_GROUP:
        item, package = head[op + 12], head[op + 13]
        if (item, package) != (0x01, 0x01):
            name = "OP-Atom" if item == 0x10 else f"OP{item}{'abc'[package - 1] if 1 <= package <= 3 else '?'}"
            raise _refuse(f"an MXF file in operational pattern {name}",
                          "the Transcoder API takes MXF in OP1a only; export the master as OP1a", "mxf-" + name.lower())
    return "mxf"


def _asf(head: bytes) -> str:
    """'asf' (WMV), or a refusal when the whole header object is here and lists audio streams but no video."""
    if len(head) >= 24:
        (header_size,) = struct.unpack_from("<Q", head, 16)
        if 30 <= header_size <= len(head):
            header = head[:header_size]
            if _ASF_AUDIO_MEDIA in header and _ASF_VIDEO_MEDIA not in header:
                raise _refuse("Windows Media audio (ASF without a video stream)", _AUDIO_ONLY, "asf-audio")
    return "asf"


def _iso_bmff(head: bytes) -> str:
    if head[4:8] == b"ftyp" and len(head) >= 12:
        (size,) = struct.unpack_from(">I", head, 0)
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
        if head[8:12] in _ISO_AUDIO_BRANDS:
            raise _refuse("an MPEG-4 audio file (M4A)", _AUDIO_ONLY, "m4a")
        if head[8:12] in _ISO_IMAGE_BRANDS or (brands & _ISO_IMAGE_BRANDS and not brands & {b"isom", b"mp41", b"mp42",
                                                                                            b"qt  ", b"iso2"}):
            raise _refuse("a HEIF/AVIF image", _IMAGE, "heif")
    return "iso-bmff"


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio (MP1/2/3) or ADTS AAC frame header at the start."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0x3, (head[1] >> 1) & 0x3
    if layer == 0:  # ADTS (AAC): MPEG version bit + layer 00
        return head[1] & 0xF6 == 0xF0
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0x3
    return version != 1 and bitrate != 0xF and rate != 0x3


def _not_a_video(head: bytes) -> KstreamError | None:
    """A refusal naming what ``head`` is, for formats that are certainly not a video we take."""
    riff = head[8:12] if head[:4] == b"RIFF" else b""
    signatures: list[tuple[bool, str, str, str]] = [
        (head.startswith(b"\x89PNG\r\n\x1a\n"), "a PNG image", _IMAGE, "png"),
        (head.startswith(b"\xff\xd8\xff"), "a JPEG image", _IMAGE, "jpeg"),
        (head[:6] in (b"GIF87a", b"GIF89a"), "a GIF image", _IMAGE, "gif"),
        (riff == b"WEBP", "a WebP image", _IMAGE, "webp"),
        (head[:4] in (b"II*\x00", b"MM\x00*"), "a TIFF image", _IMAGE, "tiff"),
        (head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00", "a BMP image", _IMAGE, "bmp"),
        (head.startswith(b"FLV\x01"), "Flash Video (FLV)", "FLV is not accepted by the Transcoder API; remux it "
         "to .mp4 (ffmpeg -i in.flv -c copy out.mp4)", "flv"),
        (riff == b"WAVE", "a WAV audio file", _AUDIO_ONLY, "wav"),
        (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"), "an AIFF audio file", _AUDIO_ONLY, "aiff"),
        (head.startswith(b"ID3") or _mpeg_audio_frame(head), "an MP3/AAC audio file", _AUDIO_ONLY, "mpeg-audio"),
        (head.startswith(b"fLaC"), "a FLAC audio file", _AUDIO_ONLY, "flac"),
        (head.startswith(b"\x0b\x77"), "an AC-3 audio stream", _AUDIO_ONLY, "ac3"),
        (head.startswith(b"OggS"), "an Ogg file", "Ogg is not a container the Transcoder API takes; remux to .mkv "
         "or .webm", "ogg"),
        (head.startswith(b"\x00\x00\x01\xba"), "an MPEG program stream (.mpg/.vob)", "the Transcoder API does "
         "not document it as an input; remux to .ts (ffmpeg -i in.mpg -c copy out.ts)", "mpeg-ps"),
        (head.startswith(b"\x00\x00\x01\xb3"), "a raw MPEG video elementary stream", "put it in a container "
         "(.ts or .mp4) first", "mpeg-video"),
        (head.startswith(b"%PDF"), "a PDF document", "upload the episode's video file", "pdf"),
        (head.startswith(b"PK\x03\x04"), "a ZIP archive", "upload the video file itself, not an archive", "zip"),
    ]
    for matched, what, advice, detected in signatures:
        if matched:
            return _refuse(what, advice, detected)
    return None


def sniff_container(head: bytes) -> str | None:
    """The container family of a file from its first SNIFF_BYTES bytes: 'iso-bmff' (MP4/MOV/M4V/3GP),
    'matroska' (MKV/WebM), 'mpeg-ts', 'm2ts', 'avi', 'asf' (WMV), 'mxf' (OP1a) or 'gxf'.

    Raises UPLOAD_INVALID_FORMAT naming what the file is when it is recognisably not such a video (an image, an
    audio-only file, FLV, an MPEG program stream, MXF in another operational pattern, ...); None when the bytes
    match nothing known.
    """
    if head[:4] == _EBML_MAGIC:
        return "matroska"
    if len(head) >= 8 and head[4:8] in _ISO_FIRST_BOXES:
        return _iso_bmff(head)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:16] == _ASF_HEADER:
        return _asf(head)
    if len(head) >= 16 and head[:5] == _GXF_LEADER and head[5] == _GXF_MAP and head[14:16] == _GXF_TRAILER:
        return "gxf"
    transport = _transport_stream(head)
    if transport:
        return transport
    refusal = _not_a_video(head)
    if refusal is not None:
        raise refusal
    return _mxf(head)


def unrecognised_container(filename: str) -> KstreamError:
    """The error for a file whose first bytes match no container we take (``sniff_container`` answered None)."""
    return KstreamError(
        f"{filename!r} does not start like any video container the Transcoder API takes; {_accepted()}",
        code=ErrorCode.UPLOAD_INVALID_FORMAT,
        details={"filename": filename, "supported": list(VIDEO_EXTENSIONS)},
    )
