"""Learn a source video's shape from its container header, reading Cloud Storage by byte ranges (no ffprobe).

    probe(read_range, size) -> SourceInfo        or raises UnsupportedSource(reason)

``read_range(offset, length)`` returns up to ``length`` bytes at ``offset`` (fewer only at end of object); ``size``
is the object's size from its metadata. Errors that ``read_range`` itself raises (network, permissions) propagate
unchanged: they are not a verdict on the file and the caller may retry.

Containers
    ISO BMFF (MP4, M4V, MOV, 3GP; ISO/IEC 14496-12 + QuickTime): top-level boxes are walked by their 8/16-byte
    headers (size 1 = 64-bit largesize, size 0 = to end of file) without reading ``mdat``; ``moov`` is found at
    the start (fast-start) or the end, read once (at most MAX_MOOV_BYTES) and parsed in memory: ``mvhd`` duration,
    then per ``trak``: ``tkhd`` (flags, 16.16 width/height, display matrix), ``mdia/mdhd`` (timescale, duration),
    ``mdia/hdlr`` (vide/soun), ``stbl/stsd`` (codec four-cc, visual size, channel count) and ``stbl/stts`` (frame
    rate). Fragmented files (``mvex``) take their duration from ``mehd`` or a top-level ``sidx`` when present.
    Matroska / WebM (EBML): the EBML header's DocType, then Segment children linearly (SeekHead, Info, Tracks),
    stopping at the first Cluster, with the SeekHead as fallback for Tracks/Info placed after the media.
    Unknown-size elements (live-written files) are handled: an unknown-size master ends where an element that
    cannot be its child begins.

Display dimensions
    ``width``/``height`` are what a viewer sees: MP4 ``tkhd`` width/height (already scaled by the pixel aspect
    ratio) with the display matrix applied (90/270 degrees swap them: a phone clip stored 1920x1080 with rotation 90
    is 1080x1920); Matroska PixelWidth/PixelHeight, replaced by DisplayWidth/DisplayHeight when those describe a
    different aspect, and swapped for a +-90 degree ProjectionPoseRoll. ``rotation`` (clockwise degrees, 0/90/180/
    270, ffmpeg's ``rotate`` convention) is kept because the Transcoder API wants sizes in the stored orientation.

Bounds: at most MAX_RANGE_CALLS calls to ``read_range`` and MAX_TOTAL_BYTES bytes in all; the first call reads
HEAD_BYTES (64 KiB), which usually holds every header of a fast-start MP4 or a Matroska file. Every length and
offset read from the file is checked before use, so crafted sizes end in UnsupportedSource, never in an
IndexError/struct.error or an unbounded read or loop.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = [
    "HEAD_BYTES",
    "MAX_MOOV_BYTES",
    "MAX_RANGE_CALLS",
    "MAX_TOTAL_BYTES",
    "SourceInfo",
    "UnsupportedSource",
    "probe",
]

ReadRange = Callable[[int, int], bytes]

HEAD_BYTES = 64 * 1024  # first read, and read-ahead for every later header read
MAX_MOOV_BYTES = 64 * 1024 * 1024  # a 2-hour film's moov is ~10-30 MiB; larger is not a file we accept
MAX_EBML_MASTER_BYTES = 16 * 1024 * 1024  # Info / Tracks / SeekHead
MAX_UNKNOWN_MASTER_BYTES = 1024 * 1024  # read window for an unknown-size Info / Tracks / SeekHead
MAX_EBML_SCAN_BYTES = 8 * 1024 * 1024  # linear scan window of Segment children before giving up
MAX_RANGE_CALLS = 32
MAX_TOTAL_BYTES = MAX_MOOV_BYTES + 4 * 1024 * 1024
MAX_TOP_LEVEL_BOXES = 4096
MAX_TRACKS = 128
MAX_DIMENSION = 16384  # larger than any real video; the transcoder's own limit is checked by the ladder
_MAX_DEPTH = 8


class UnsupportedSource(ValueError):
    """The object is not a video we can transcode: unknown container, truncated, corrupt, no video track, ...

    ``reason`` is a short human-readable sentence; the caller maps this to TRANSCODE_FAILED / UPLOAD_INVALID_FORMAT.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class SourceInfo:
    width: int  # display width (after pixel aspect ratio and rotation)
    height: int  # display height
    duration_seconds: float | None
    has_audio: bool
    has_video: bool
    container: str  # "mp4" | "mov" | "matroska" | "webm"
    video_codec: str | None = None  # ffprobe-style name: h264, hevc, vp9, av1, ... (raw four-cc/CodecID if unknown)
    frame_rate: float | None = None
    rotation: int = 0  # clockwise degrees the stored picture is turned for display: 0, 90, 180, 270
    audio_codec: str | None = None
    audio_channels: int | None = None

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)

    @property
    def is_portrait(self) -> bool:
        return self.height > self.width

    @property
    def stored_width(self) -> int:
        """Width in the stored (pre-rotation) orientation."""
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def stored_height(self) -> int:
        return self.width if self.rotation in (90, 270) else self.height


# --------------------------------------------------------------------------------------------------------------------
# bounded, caching range reader


class _Reader:
    """Reads through ``read_range`` with a small cache, counting calls and bytes against hard limits."""

    def __init__(self, read_range: ReadRange, size: int) -> None:
        self._read_range = read_range
        self.size = size
        self.calls = 0
        self.bytes_read = 0
        self._chunks: list[tuple[int, bytes]] = []

    def cached(self, offset: int, length: int) -> bytes | None:
        for start, data in self._chunks:
            if start <= offset and offset + length <= start + len(data):
                return data[offset - start : offset - start + length]
        return None

    def read(self, offset: int, length: int, *, readahead: int = 0, what: str = "data") -> bytes:
        """Exactly ``length`` bytes at ``offset`` (fetching up to ``readahead`` bytes more), else UnsupportedSource."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise UnsupportedSource(f"file is truncated: {what} extends past the end of the file")
        hit = self.cached(offset, length)
        if hit is not None:
            return hit
        fetch = min(max(length, readahead), self.size - offset)
        if self.calls >= MAX_RANGE_CALLS:
            raise UnsupportedSource(f"container header needs too many reads (more than {MAX_RANGE_CALLS})")
        if self.bytes_read + fetch > MAX_TOTAL_BYTES:
            raise UnsupportedSource(f"container header is too large (over {MAX_TOTAL_BYTES // (1024 * 1024)} MiB)")
        self.calls += 1
        data = self._read_range(offset, fetch)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"read_range returned {type(data).__name__}, expected bytes")
        data = bytes(data[:fetch])
        self.bytes_read += len(data)
        if data:
            self._chunks.append((offset, data))
        if len(data) < length:
            raise UnsupportedSource(f"file is truncated: could not read {what} at byte {offset}")
        return data[:length]


# --------------------------------------------------------------------------------------------------------------------
# entry point


def probe(read_range: ReadRange, size: int) -> SourceInfo:
    """Identify the container and read the header of the object of ``size`` bytes; see the module docstring."""
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be a non-negative int, got {size!r}")
    if size == 0:
        raise UnsupportedSource("file is empty")
    if size < 16:
        raise UnsupportedSource(f"file is too small to be a video ({size} bytes)")
    reader = _Reader(read_range, size)
    head = reader.read(0, min(16, size), readahead=HEAD_BYTES, what="file header")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return _probe_matroska(reader)
    if head[4:8] in _ISO_FIRST_BOXES:
        return _probe_iso(reader)
    raise UnsupportedSource("unrecognised file format: not an MP4/MOV or Matroska/WebM container")


def _finish(
    *,
    container: str,
    width: float,
    height: float,
    rotation: int,
    duration: float | None,
    has_audio: bool,
    video_codec: str | None,
    frame_rate: float | None,
    audio_codec: str | None,
    audio_channels: int | None,
) -> SourceInfo:
    w, h = round(width), round(height)
    if w <= 0 or h <= 0:
        raise UnsupportedSource(f"video track has no picture size ({w}x{h})")
    if w > MAX_DIMENSION or h > MAX_DIMENSION:
        raise UnsupportedSource(f"video track has an implausible picture size ({w}x{h})")
    if rotation in (90, 270):
        w, h = h, w
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        duration = None
    if frame_rate is not None and not (math.isfinite(frame_rate) and 0 < frame_rate <= 1000):
        frame_rate = None
    return SourceInfo(
        width=w,
        height=h,
        duration_seconds=round(duration, 6) if duration is not None else None,
        has_audio=has_audio,
        has_video=True,
        container=container,
        video_codec=video_codec,
        frame_rate=round(frame_rate, 3) if frame_rate is not None else None,
        rotation=rotation,
        audio_codec=audio_codec,
        audio_channels=audio_channels,
    )


# --------------------------------------------------------------------------------------------------------------------
# ISO base media file format (MP4 / MOV)

_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp"}

_ISO_VIDEO_CODECS = {
    b"avc1": "h264", b"avc2": "h264", b"avc3": "h264", b"avc4": "h264",
    b"hvc1": "hevc", b"hev1": "hevc", b"dvh1": "hevc", b"dvhe": "hevc",
    b"vp08": "vp8", b"vp09": "vp9", b"av01": "av1", b"mp4v": "mpeg4",
    b"s263": "h263", b"h263": "h263", b"jpeg": "mjpeg", b"mjpa": "mjpeg", b"mjpb": "mjpeg",
    b"apch": "prores", b"apcn": "prores", b"apcs": "prores", b"apco": "prores", b"ap4h": "prores", b"ap4x": "prores",
    b"mp2v": "mpeg2video", b"xd5c": "mpeg2video", b"dvc ": "dvvideo", b"dvcp": "dvvideo",
}  # fmt: skip
_ISO_AUDIO_CODECS = {
    b"mp4a": "aac", b"ac-3": "ac3", b"ec-3": "eac3", b"Opus": "opus", b"fLaC": "flac", b".mp3": "mp3",
    b"alac": "alac", b"lpcm": "pcm", b"sowt": "pcm", b"twos": "pcm", b"in24": "pcm", b"fl32": "pcm",
    b"samr": "amr_nb", b"sawb": "amr_wb",
}  # fmt: skip
_ENCRYPTED_ENTRIES = {b"encv", b"enca", b"drmi", b"drms"}


def _box_header(buf: bytes, pos: int, end: int) -> tuple[bytes, int, int]:
    """(type, header_len, box_size) of the box at ``pos`` inside ``buf[:end]``; size 0 means 'to end'."""
    if pos + 8 > end:
        raise UnsupportedSource("corrupt MP4: box header cut short")
    size = struct.unpack_from(">I", buf, pos)[0]
    btype = bytes(buf[pos + 4 : pos + 8])
    header = 8
    if size == 1:
        if pos + 16 > end:
            raise UnsupportedSource("corrupt MP4: 64-bit box header cut short")
        size = struct.unpack_from(">Q", buf, pos + 8)[0]
        header = 16
    elif size == 0:
        size = end - pos
    if size < header:
        raise UnsupportedSource(f"corrupt MP4: box {_fourcc(btype)} has an invalid size ({size})")
    return btype, header, size


def _iter_boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Child boxes of buf[start:end] as (type, body_start, body_end). Trailing padding under 8 bytes is ignored."""
    pos = start
    while end - pos >= 8:
        btype, header, size = _box_header(buf, pos, end)
        if pos + size > end:
            raise UnsupportedSource(f"corrupt MP4: box {_fourcc(btype)} overruns its parent")
        yield btype, pos + header, pos + size
        pos += size


def _child(buf: bytes, start: int, end: int, btype: bytes) -> tuple[int, int] | None:
    for t, s, e in _iter_boxes(buf, start, end):
        if t == btype:
            return s, e
    return None


def _fourcc(b: bytes) -> str:
    return b.decode("latin-1").strip() or repr(b)


def _u(buf: bytes, fmt: str, pos: int, end: int) -> tuple:
    if pos < 0 or pos + struct.calcsize(fmt) > end:
        raise UnsupportedSource("corrupt MP4: box body cut short")
    return struct.unpack_from(fmt, buf, pos)


def _probe_iso(reader: _Reader) -> SourceInfo:
    size = reader.size
    pos = 0
    major_brand = b""
    first_box: bytes | None = None
    moov: tuple[int, bytes] | None = None  # (body offset in file, body bytes)
    sidx_duration: float | None = None
    boxes = 0
    while size - pos >= 8:
        boxes += 1
        if boxes > MAX_TOP_LEVEL_BOXES:
            raise UnsupportedSource("too many top-level boxes before the movie header")
        if moov is not None and reader.cached(pos, 16 if size - pos >= 16 else 8) is None:
            break  # moov found: look at further boxes (sidx) only while they are free to read
        hdr = reader.read(pos, min(16, size - pos), readahead=HEAD_BYTES, what="box header")
        btype, header, bsize = _box_header(hdr, 0, len(hdr))
        if hdr[0:4] == b"\0\0\0\0":
            bsize = size - pos  # size 0: box extends to the end of the file
        if first_box is None:
            first_box = btype
        end = pos + bsize
        if btype == b"ftyp":
            if bsize > 4096:
                raise UnsupportedSource("corrupt MP4: oversized ftyp box")
            if end > size:
                raise UnsupportedSource("file is truncated inside the ftyp box")
            major_brand = reader.read(pos + header, 4, what="ftyp brand") if bsize - header >= 4 else b""
        elif btype == b"moov" and moov is None:
            if end > size:
                raise UnsupportedSource("file is truncated: the movie header (moov) extends past the end of the file")
            if bsize - header > MAX_MOOV_BYTES:
                raise UnsupportedSource(f"movie header (moov) is larger than {MAX_MOOV_BYTES // (1024 * 1024)} MiB")
            moov = (pos + header, reader.read(pos + header, bsize - header, what="movie header (moov)"))
        elif btype == b"sidx" and sidx_duration is None and end <= size and bsize <= 1024 * 1024:
            sidx_duration = _sidx_duration(reader.read(pos + header, bsize - header, what="sidx"))
        if end > size:
            break  # e.g. mdat of a truncated upload: nothing after it
        pos = end
    if moov is None:
        if first_box not in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"):
            raise UnsupportedSource("unrecognised file format: not an MP4/MOV or Matroska/WebM container")
        raise UnsupportedSource("no movie header (moov box) found: the file is truncated or not a finished video")
    container = "mov" if major_brand == b"qt  " or (not major_brand and first_box != b"ftyp") else "mp4"
    return _parse_moov(moov[1], container, sidx_duration)


def _sidx_duration(body: bytes) -> float | None:
    """Total duration described by a segment index box, or None."""
    try:
        version = body[0]
        timescale = struct.unpack_from(">I", body, 8)[0]
        pos = 12 + (8 if version == 0 else 16) + 2
        count = struct.unpack_from(">H", body, pos)[0]
        pos += 2
        if timescale == 0 or pos + 12 * count > len(body):
            return None
        total = sum(struct.unpack_from(">I", body, pos + 12 * i + 4)[0] for i in range(count))
        return total / timescale if total else None
    except (IndexError, struct.error):
        return None


@dataclass
class _IsoTrack:
    handler: bytes = b""
    enabled: bool = True
    width: float = 0.0
    height: float = 0.0
    rotation: int = 0
    timescale: int = 0
    duration: int = 0
    entry: bytes = b""
    entry_span: tuple[int, int] | None = None
    stts: tuple[int, int] = (0, 0)
    entry_width: int = 0
    entry_height: int = 0
    channels: int | None = None
    frame_rate: float | None = None


def _parse_moov(buf: bytes, container: str, sidx_duration: float | None) -> SourceInfo:
    end = len(buf)
    movie_timescale = 0
    movie_duration = 0
    fragment_duration = 0
    tracks: list[_IsoTrack] = []
    for btype, s, e in _iter_boxes(buf, 0, end):
        if btype == b"mvhd":
            movie_timescale, movie_duration = _time_fields(buf, s, e)
        elif btype == b"trak":
            if len(tracks) >= MAX_TRACKS:
                raise UnsupportedSource("too many tracks")
            tracks.append(_parse_trak(buf, s, e))
        elif btype == b"mvex":
            mehd = _child(buf, s, e, b"mehd")
            if mehd:
                version = _u(buf, ">B", mehd[0], mehd[1])[0]
                fragment_duration = _u(buf, ">Q" if version == 1 else ">I", mehd[0] + 4, mehd[1])[0]
    if movie_timescale == 0:
        raise UnsupportedSource("corrupt MP4: movie header (mvhd) missing or with a zero timescale")

    duration: float | None = None
    if movie_duration and not _all_ones(movie_duration):
        duration = movie_duration / movie_timescale
    elif fragment_duration and not _all_ones(fragment_duration):
        duration = fragment_duration / movie_timescale
    else:
        spans = [t.duration / t.timescale for t in tracks if t.timescale and t.duration and not _all_ones(t.duration)]
        duration = max(spans) if spans else sidx_duration

    videos = [t for t in tracks if t.handler == b"vide"]
    audios = [t for t in tracks if t.handler == b"soun"]
    if not videos:
        raise UnsupportedSource("no video track: the file holds no picture (audio-only or data-only)")
    video = next((t for t in videos if t.enabled and t.width > 0 and t.height > 0), None)
    video = video or next((t for t in videos if t.width > 0 and t.height > 0), None) or videos[0]
    if video.entry in _ENCRYPTED_ENTRIES:
        raise UnsupportedSource("video track is encrypted (DRM-protected); it cannot be transcoded")
    width, height = video.width, video.height
    if width <= 0 or height <= 0:  # some writers leave tkhd at 0x0: fall back to the sample entry
        width, height = video.entry_width, video.entry_height
    audio = next((t for t in audios if t.enabled), audios[0] if audios else None)
    return _finish(
        container=container,
        width=width,
        height=height,
        rotation=video.rotation,
        duration=duration,
        has_audio=audio is not None,
        video_codec=_ISO_VIDEO_CODECS.get(video.entry, _fourcc(video.entry) if video.entry else None),
        frame_rate=video.frame_rate,
        audio_codec=(_ISO_AUDIO_CODECS.get(audio.entry, _fourcc(audio.entry)) if audio and audio.entry else None),
        audio_channels=audio.channels if audio else None,
    )


def _all_ones(v: int) -> bool:
    return v in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)


def _time_fields(buf: bytes, s: int, e: int) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd body."""
    version = _u(buf, ">B", s, e)[0]
    if version == 1:
        timescale, duration = _u(buf, ">IQ", s + 4 + 16, e)
    else:
        timescale, duration = _u(buf, ">II", s + 4 + 8, e)
    return timescale, duration


def _parse_trak(buf: bytes, s: int, e: int) -> _IsoTrack:
    t = _IsoTrack()
    for btype, bs, be in _iter_boxes(buf, s, e):
        if btype == b"tkhd":
            _parse_tkhd(buf, bs, be, t)
        elif btype == b"mdia":
            for ctype, cs, ce in _iter_boxes(buf, bs, be):
                if ctype == b"mdhd":
                    t.timescale, t.duration = _time_fields(buf, cs, ce)
                elif ctype == b"hdlr":
                    t.handler = bytes(_u(buf, ">4s", cs + 8, ce)[0])
                elif ctype == b"minf":
                    stbl = _child(buf, cs, ce, b"stbl")
                    if stbl:
                        _parse_stbl(buf, stbl[0], stbl[1], t)
    _decode_sample_entry(buf, t)
    samples, ticks = t.stts
    if samples > 1 and ticks and t.timescale:
        t.frame_rate = samples * t.timescale / ticks
    return t


def _parse_tkhd(buf: bytes, s: int, e: int, t: _IsoTrack) -> None:
    version_flags = _u(buf, ">I", s, e)[0]
    version, flags = version_flags >> 24, version_flags & 0xFFFFFF
    t.enabled = bool(flags & 1) or flags == 0  # some writers leave every flag clear
    # version 1: creation(8) modification(8) track_ID(4) reserved(4) duration(8); version 0: 4/4/4/4/4
    pos = s + 4 + (32 if version == 1 else 20)
    pos += 8 + 2 + 2 + 2 + 2  # reserved, layer, alternate_group, volume, reserved
    a, b, _u1, c, d, _v, _x, _y, _w = _u(buf, ">9i", pos, e)
    width, height = _u(buf, ">II", pos + 36, e)
    t.width, t.height = width / 65536.0, height / 65536.0
    t.rotation = _matrix_rotation(a, b, c, d)


def _matrix_rotation(a: int, b: int, c: int, d: int) -> int:
    """Clockwise display rotation of a {a b; c d} 16.16 display matrix, snapped to 0/90/180/270 (ffmpeg's sign)."""
    if a == b == 0 or c == d == 0:
        return 0
    degrees = -math.degrees(math.atan2(b, a))
    snapped = round(degrees / 90.0) * 90 % 360
    return snapped if abs(((degrees - snapped) + 180) % 360 - 180) < 10 else 0


def _parse_stbl(buf: bytes, s: int, e: int, t: _IsoTrack) -> None:
    for btype, bs, be in _iter_boxes(buf, s, e):
        if btype == b"stsd":
            count = _u(buf, ">I", bs + 4, be)[0]
            if count and be - (bs + 8) >= 16:
                es = bs + 8
                esize, fmt = _u(buf, ">I4s", es, be)
                t.entry = bytes(fmt)
                t.entry_span = (es, min(be, es + esize) if esize >= 16 else be)
        elif btype == b"stts":
            count = _u(buf, ">I", bs + 4, be)[0]
            if count == 0 or count > (be - bs - 8) // 8:
                continue
            samples = ticks = 0
            for n, delta in struct.iter_unpack(">II", buf[bs + 8 : bs + 8 + 8 * count]):
                samples += n
                ticks += n * delta
            t.stts = (samples, ticks)


def _decode_sample_entry(buf: bytes, t: _IsoTrack) -> None:
    """Visual size or audio channel count from the first sample entry (needs the handler, hence after the walk)."""
    if t.entry_span is None:
        return
    es, ee = t.entry_span
    # SampleEntry: box header(8), reserved(6), data_reference_index(2); then
    # VisualSampleEntry: pre_defined/reserved(16), width(2), height(2), ...
    # AudioSampleEntry: reserved(8) (QuickTime: version, revision, vendor), channelcount(2), ...
    if t.handler == b"vide" and ee - es >= 36:
        t.entry_width, t.entry_height = struct.unpack_from(">HH", buf, es + 32)
    elif t.handler == b"soun" and ee - es >= 26:
        t.channels = struct.unpack_from(">H", buf, es + 24)[0] or None
        if t.entry == b"mp4a":  # MP4 writers put a fixed 2 in channelcount; the AAC config has the real count
            at = buf.find(b"esds", es + 28, ee)
            if at >= 0:
                size = struct.unpack_from(">I", buf, at - 4)[0]
                t.channels = _esds_channels(buf[at + 4 : min(ee, at - 4 + size)]) or t.channels


_AAC_CHANNELS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8}


def _esds_channels(body: bytes) -> int | None:
    """Channel count from an esds box body (ISO/IEC 14496-1 descriptors, 14496-3 AudioSpecificConfig), or None."""

    def descriptor(pos: int) -> tuple[int, int, int]:  # (tag, data_start, data_end)
        tag, size, pos = body[pos], 0, pos + 1
        for _ in range(4):
            byte = body[pos]
            pos += 1
            size = (size << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        return tag, pos, min(len(body), pos + size)

    try:
        tag, pos, end = descriptor(4)  # after version/flags
        if tag != 0x03:  # ES_Descriptor
            return None
        flags = body[pos + 2]
        pos += 3 + (2 if flags & 0x80 else 0) + (1 + body[pos + 3] if flags & 0x40 else 0) + (2 if flags & 0x20 else 0)
        while pos < end:
            tag, dpos, dend = descriptor(pos)
            if tag == 0x04:  # DecoderConfigDescriptor: 13 fixed bytes, then DecoderSpecificInfo
                tag, cpos, _ = descriptor(dpos + 13)
                if tag != 0x05:
                    return None
                bits = int.from_bytes(body[cpos : cpos + 6].ljust(6, b"\0"), "big")
                n = 48 - 5
                if (bits >> n) & 0x1F == 31:  # escaped audioObjectType
                    n -= 6
                n -= 4
                if (bits >> n) & 0xF == 0xF:  # explicit sampling frequency
                    n -= 24
                n -= 4
                return _AAC_CHANNELS.get((bits >> n) & 0xF) if n >= 0 else None
            pos = dend
    except IndexError:
        return None
    return None


# --------------------------------------------------------------------------------------------------------------------
# Matroska / WebM (EBML)

_EBML_HEADER = 0x1A45DFA3
_EBML_DOCTYPE = 0x4282
_VOID, _CRC32 = 0xEC, 0xBF
_SEGMENT = 0x18538067
_SEEKHEAD, _SEEK, _SEEK_ID, _SEEK_POSITION = 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
_INFO, _TIMECODE_SCALE, _DURATION = 0x1549A966, 0x2AD7B1, 0x4489
_TRACKS, _TRACK_ENTRY = 0x1654AE6B, 0xAE
_TRACK_TYPE, _CODEC_ID, _FLAG_ENABLED, _DEFAULT_DURATION = 0x83, 0x86, 0xB9, 0x23E383
_VIDEO, _PIXEL_WIDTH, _PIXEL_HEIGHT = 0xE0, 0xB0, 0xBA
_DISPLAY_WIDTH, _DISPLAY_HEIGHT, _DISPLAY_UNIT, _VIDEO_FRAME_RATE = 0x54B0, 0x54BA, 0x54B2, 0x2383E3
_PROJECTION, _PROJECTION_POSE_ROLL = 0x7670, 0x7675
_AUDIO, _CHANNELS = 0xE1, 0x9F
_CONTENT_ENCODINGS, _CONTENT_ENCODING, _CONTENT_ENCRYPTION = 0x6D80, 0x6240, 0x5035
_CLUSTER, _CUES, _TAGS, _CHAPTERS, _ATTACHMENTS = 0x1F43B675, 0x1C53BB6B, 0x1254C367, 0x1043A770, 0x1941A469
_LEVEL1 = {_SEEKHEAD, _INFO, _TRACKS, _CLUSTER, _CUES, _TAGS, _CHAPTERS, _ATTACHMENTS, _SEGMENT, _EBML_HEADER}
_UNKNOWN = -1

_MKV_VIDEO_CODECS = {
    "V_MPEG4/ISO/AVC": "h264", "V_MPEGH/ISO/HEVC": "hevc", "V_VP8": "vp8", "V_VP9": "vp9", "V_AV1": "av1",
    "V_MPEG4/ISO/SP": "mpeg4", "V_MPEG4/ISO/ASP": "mpeg4", "V_MPEG4/ISO/AP": "mpeg4", "V_MPEG2": "mpeg2video",
    "V_MPEG1": "mpeg1video", "V_MJPEG": "mjpeg", "V_PRORES": "prores", "V_THEORA": "theora", "V_FFV1": "ffv1",
    "V_UNCOMPRESSED": "rawvideo",
}  # fmt: skip
_MKV_AUDIO_CODECS = {
    "A_OPUS": "opus", "A_VORBIS": "vorbis", "A_AC3": "ac3", "A_EAC3": "eac3", "A_MPEG/L3": "mp3",
    "A_MPEG/L2": "mp2", "A_FLAC": "flac", "A_DTS": "dts", "A_TRUEHD": "truehd", "A_ALAC": "alac",
}  # fmt: skip


def _vint(buf: bytes, pos: int, end: int, *, is_id: bool) -> tuple[int, int]:
    """(value, length) of an EBML variable-length integer; sizes with every value bit set give _UNKNOWN."""
    if pos >= end:
        raise _ShortBuffer
    first = buf[pos]
    if first == 0:
        raise UnsupportedSource("corrupt Matroska: invalid element header")
    length = 9 - first.bit_length()
    if length > (4 if is_id else 8):
        raise UnsupportedSource("corrupt Matroska: invalid element header")
    if pos + length > end:
        raise _ShortBuffer
    raw = int.from_bytes(buf[pos : pos + length], "big")
    if is_id:
        return raw, length
    value = raw & ((1 << (7 * length)) - 1)
    return (_UNKNOWN if value == (1 << (7 * length)) - 1 else value), length


class _ShortBuffer(Exception):
    """An element header runs past the bytes at hand (internal; turned into 'truncated' or a further read)."""


def _element_header(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(id, header_length, data_size or _UNKNOWN)."""
    eid, n1 = _vint(buf, pos, end, is_id=True)
    size, n2 = _vint(buf, pos + n1, end, is_id=False)
    return eid, n1 + n2, size


def _iter_elements(
    buf: bytes, start: int, end: int, stop_ids: frozenset[int] | set[int] = frozenset(), *, window: bool = False
) -> Iterator[tuple[int, int, int]]:
    """Children of buf[start:end] as (id, data_start, data_end). An unknown-size child extends to ``end``.

    Stops at an element whose id is in ``stop_ids`` (how an unknown-size parent ends). ``window`` means
    buf[start:end] is a read window over an unknown-size parent, so a child cut short at ``end`` just ends the
    walk; otherwise a child overrunning its known-size parent is corruption.
    """
    pos = start
    while pos < end:
        try:
            eid, hlen, size = _element_header(buf, pos, end)
        except _ShortBuffer:
            if window:
                return
            raise UnsupportedSource("corrupt Matroska: element header overruns its parent") from None
        if eid in stop_ids:
            return
        data = pos + hlen
        data_end = end if size == _UNKNOWN else data + size
        if data_end > end:
            if window:
                return
            raise UnsupportedSource("corrupt Matroska: element overruns its parent")
        yield eid, data, data_end
        pos = data_end


def _master_end(buf: bytes, start: int, end: int) -> int:
    """Where an unknown-size level-1 master whose data starts at ``start`` ends: at the next level-1 element."""
    pos = start
    while pos < end:
        try:
            eid, hlen, size = _element_header(buf, pos, end)
        except _ShortBuffer:
            return end
        if eid in _LEVEL1:
            return pos
        if size == _UNKNOWN:
            return end
        pos += hlen + size
    return min(pos, end)


def _uint(buf: bytes, s: int, e: int) -> int:
    if e - s > 8:
        raise UnsupportedSource("corrupt Matroska: integer element longer than 8 bytes")
    return int.from_bytes(buf[s:e], "big")


def _float(buf: bytes, s: int, e: int) -> float | None:
    if e - s == 4:
        return struct.unpack_from(">f", buf, s)[0]
    if e - s == 8:
        return struct.unpack_from(">d", buf, s)[0]
    return None if e == s else _raise("corrupt Matroska: float element of invalid length")


def _string(buf: bytes, s: int, e: int) -> str:
    return bytes(buf[s:e]).split(b"\0", 1)[0].decode("ascii", "replace")


def _raise(reason: str):
    raise UnsupportedSource(reason)


def _probe_matroska(reader: _Reader) -> SourceInfo:
    size = reader.size
    head = reader.read(0, min(HEAD_BYTES, size), what="EBML header")
    try:
        eid, hlen, hsize = _element_header(head, 0, len(head))
    except _ShortBuffer:
        raise UnsupportedSource("file is truncated inside the EBML header") from None
    if hsize == _UNKNOWN or hlen + hsize > len(head):
        raise UnsupportedSource("corrupt Matroska: invalid EBML header size")
    doctype = "matroska"
    for cid, s, e in _iter_elements(head, hlen, hlen + hsize):
        if cid == _EBML_DOCTYPE:
            doctype = _string(head, s, e)
    if doctype not in ("matroska", "webm"):
        raise UnsupportedSource(f"unsupported EBML document type {doctype!r} (expected matroska or webm)")

    # Find the Segment (skipping top-level Void elements).
    pos = hlen + hsize
    for _ in range(16):
        eid, ehl, esize = _read_element_header(reader, pos, "segment header")
        if eid == _SEGMENT:
            break
        if esize == _UNKNOWN:
            raise UnsupportedSource("corrupt Matroska: unknown-size element before the Segment")
        pos += ehl + esize
    else:
        raise UnsupportedSource("corrupt Matroska: no Segment element")
    seg_data = pos + ehl
    seg_end = size if esize == _UNKNOWN else min(size, seg_data + esize)

    info: dict | None = None
    tracks: list[dict] | None = None
    seeks: dict[int, int] = {}
    pos = seg_data
    scanned = 0
    while pos < seg_end and (info is None or tracks is None):
        if pos - seg_data > MAX_EBML_SCAN_BYTES or scanned > 1024:
            break
        scanned += 1
        eid, ehl, esize = _read_element_header(reader, pos, "segment child header")
        if eid == _CLUSTER:
            break  # media data: the headers we want come before it, or are reachable via the SeekHead
        if eid in (_INFO, _TRACKS, _SEEKHEAD):
            buf = _read_master(reader, pos, ehl, esize, seg_end)
            window = esize == _UNKNOWN
            if eid == _INFO:
                info = _parse_info(buf, window)
            elif eid == _TRACKS:
                tracks = _parse_tracks(buf, window)
            elif not seeks:
                seeks = _parse_seekhead(buf, window)
            if window:
                pos += ehl + _master_end(buf, 0, len(buf))
                continue
        elif esize == _UNKNOWN:
            break  # an unknown-size element we do not parse: its end cannot be found cheaply
        pos += ehl + esize

    for wanted in (_TRACKS, _INFO):
        if (tracks if wanted == _TRACKS else info) is not None or wanted not in seeks:
            continue
        target = seg_data + seeks[wanted]
        if not seg_data <= target < seg_end:
            continue
        eid, ehl, esize = _read_element_header(reader, target, "seek target")
        if eid != wanted:
            continue
        buf = _read_master(reader, target, ehl, esize, seg_end)
        if wanted == _TRACKS:
            tracks = _parse_tracks(buf, esize == _UNKNOWN)
        else:
            info = _parse_info(buf, esize == _UNKNOWN)

    if not tracks:
        raise UnsupportedSource("no Tracks element found: the Matroska file is truncated or has no tracks")
    info = info or {}
    videos = [t for t in tracks if t.get("type") == 1]
    audios = [t for t in tracks if t.get("type") == 2]
    if not videos:
        raise UnsupportedSource("no video track: the file holds no picture (audio-only or data-only)")
    video = next((t for t in videos if t.get("enabled", 1) and t.get("pw") and t.get("ph")), videos[0])
    if video.get("encrypted"):
        raise UnsupportedSource("video track is encrypted (DRM-protected); it cannot be transcoded")
    width, height = float(video.get("pw", 0)), float(video.get("ph", 0))
    dw, dh, unit = video.get("dw"), video.get("dh"), video.get("dunit", 0)
    if width > 0 and height > 0 and dw and dh and unit in (0, 3) and abs(dw / dh - width / height) > 0.01:
        # anamorphic: keep the coded height, take the display aspect ratio
        width = height * dw / dh
    roll = video.get("roll")
    rotation = 0
    if roll is not None and math.isfinite(roll):
        rotation = round(-roll / 90.0) * 90 % 360 if abs(roll / 90.0 - round(roll / 90.0)) < 0.1 else 0
    scale = info.get("scale", 1_000_000) or 1_000_000
    duration = info["duration"] * scale / 1e9 if info.get("duration") else None
    frame_rate = None
    if video.get("default_duration"):
        frame_rate = 1e9 / video["default_duration"]
    elif video.get("fps"):
        frame_rate = video["fps"]
    audio = next((t for t in audios if t.get("enabled", 1)), audios[0] if audios else None)
    vcodec = video.get("codec") or None
    acodec = audio.get("codec") if audio else None
    return _finish(
        container=doctype,
        width=width,
        height=height,
        rotation=rotation,
        duration=duration,
        has_audio=audio is not None,
        video_codec=_mkv_codec(vcodec, _MKV_VIDEO_CODECS) if vcodec else None,
        frame_rate=frame_rate,
        audio_codec=_mkv_codec(acodec, _MKV_AUDIO_CODECS) if acodec else None,
        audio_channels=(audio.get("channels") or None) if audio else None,
    )


def _mkv_codec(codec_id: str, table: dict[str, str]) -> str:
    if codec_id in table:
        return table[codec_id]
    if codec_id.startswith("A_AAC"):
        return "aac"
    if codec_id.startswith("A_PCM"):
        return "pcm"
    return codec_id


def _read_element_header(reader: _Reader, pos: int, what: str) -> tuple[int, int, int]:
    hdr = reader.read(pos, min(12, reader.size - pos), readahead=HEAD_BYTES, what=what)
    try:
        return _element_header(hdr, 0, len(hdr))
    except _ShortBuffer:
        raise UnsupportedSource(f"file is truncated inside a Matroska {what}") from None


def _read_master(reader: _Reader, pos: int, hlen: int, size: int, limit: int) -> bytes:
    """The data of a level-1 master element (for an unknown size: a window of up to MAX_UNKNOWN_MASTER_BYTES)."""
    if size == _UNKNOWN:
        size = max(0, min(MAX_UNKNOWN_MASTER_BYTES, limit - pos - hlen))
    elif size > MAX_EBML_MASTER_BYTES:
        raise UnsupportedSource("Matroska header element is too large")
    elif pos + hlen + size > reader.size:
        raise UnsupportedSource("file is truncated inside a Matroska header element")
    return reader.read(pos + hlen, size, readahead=HEAD_BYTES, what="Matroska header element")


def _parse_info(buf: bytes, window: bool) -> dict:
    info: dict = {}
    for eid, ds, de in _iter_elements(buf, 0, len(buf), _LEVEL1, window=window):
        if eid == _TIMECODE_SCALE:
            info["scale"] = _uint(buf, ds, de)
        elif eid == _DURATION:
            info["duration"] = _float(buf, ds, de)
    return info


def _parse_seekhead(buf: bytes, window: bool) -> dict[int, int]:
    seeks: dict[int, int] = {}
    for eid, ds, de in _iter_elements(buf, 0, len(buf), _LEVEL1, window=window):
        if eid != _SEEK:
            continue
        target = position = None
        for cid, cs, ce in _iter_elements(buf, ds, de):
            if cid == _SEEK_ID:
                target = _uint(buf, cs, ce)
            elif cid == _SEEK_POSITION:
                position = _uint(buf, cs, ce)
        if target is not None and position is not None:
            seeks.setdefault(target, position)
    return seeks


def _parse_tracks(buf: bytes, window: bool) -> list[dict]:
    tracks: list[dict] = []
    for eid, ds, de in _iter_elements(buf, 0, len(buf), _LEVEL1, window=window):
        if eid != _TRACK_ENTRY:
            continue
        if len(tracks) >= MAX_TRACKS:
            raise UnsupportedSource("too many tracks")
        tracks.append(_parse_track_entry(buf, ds, de))
    return tracks


def _parse_track_entry(buf: bytes, s: int, e: int) -> dict:
    t: dict = {}
    for eid, ds, de in _iter_elements(buf, s, e, _LEVEL1 | {_TRACK_ENTRY}):
        if eid == _TRACK_TYPE:
            t["type"] = _uint(buf, ds, de)
        elif eid == _CODEC_ID:
            t["codec"] = _string(buf, ds, de)
        elif eid == _FLAG_ENABLED:
            t["enabled"] = _uint(buf, ds, de)
        elif eid == _DEFAULT_DURATION:
            t["default_duration"] = _uint(buf, ds, de)
        elif eid == _VIDEO:
            for cid, cs, ce in _iter_elements(buf, ds, de):
                if cid == _PIXEL_WIDTH:
                    t["pw"] = _uint(buf, cs, ce)
                elif cid == _PIXEL_HEIGHT:
                    t["ph"] = _uint(buf, cs, ce)
                elif cid == _DISPLAY_WIDTH:
                    t["dw"] = _uint(buf, cs, ce)
                elif cid == _DISPLAY_HEIGHT:
                    t["dh"] = _uint(buf, cs, ce)
                elif cid == _DISPLAY_UNIT:
                    t["dunit"] = _uint(buf, cs, ce)
                elif cid == _VIDEO_FRAME_RATE:
                    t["fps"] = _float(buf, cs, ce)
                elif cid == _PROJECTION:
                    for pid, ps, pe in _iter_elements(buf, cs, ce):
                        if pid == _PROJECTION_POSE_ROLL:
                            t["roll"] = _float(buf, ps, pe)
        elif eid == _AUDIO:
            for cid, cs, ce in _iter_elements(buf, ds, de):
                if cid == _CHANNELS:
                    t["channels"] = _uint(buf, cs, ce)
        elif eid == _CONTENT_ENCODINGS:
            for cid, cs, ce in _iter_elements(buf, ds, de):
                if cid == _CONTENT_ENCODING and any(
                    x == _CONTENT_ENCRYPTION for x, _, _ in _iter_elements(buf, cs, ce)
                ):
                    t["encrypted"] = True
    return t
