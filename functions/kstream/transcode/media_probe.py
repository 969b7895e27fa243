"""Learn a source video's shape with MediaInfo (pymediainfo), reading Cloud Storage by byte ranges.

    probe(read_range, size) -> SourceInfo        or raises UnsupportedSource(reason)

``read_range(offset, length)`` returns up to ``length`` bytes at ``offset`` (fewer only at the end of the object);
``size`` is the object's size from its metadata. Errors that ``read_range`` raises (network, permissions) reach
the caller unchanged: they are no verdict on the file and the caller may retry.

How the bytes are read
    MediaInfo (libmediainfo, bundled in the pymediainfo wheel) is fed a file-like object, :class:`RangeFile`, and
    asks for the seeks it needs: the head, then e.g. the ``moov`` at the end of an MP4, the tail of an MPEG-TS for
    its duration, the index of an AVI. RangeFile turns its reads into ``read_range`` calls with a read-ahead that
    starts at READAHEAD_MIN and doubles while reads stay sequential (up to READAHEAD_MAX), keeps the last
    CACHE_CHUNKS chunks, and stops at MAX_TOTAL_BYTES / MAX_RANGE_CALLS (and MAX_LIBRARY_READS, reads served from
    the cache included, which ends a library caught in a loop by a damaged file): past any it answers end-of-file, so
    MediaInfo finishes with what it has (never the whole of a 2 GiB object, never a local copy). MediaInfo runs
    with ParseSpeed 0 (headers, not a scan of the media data) and MpegTs_MaximumOffset = TS_SCAN_BYTES (how far
    it reads into a transport stream from the start, and from the end for the duration); an AVI, which MediaInfo
    would read far into, stops at AVI_MAX_BYTES.

What it reports (SourceInfo)
    ``width``/``height`` are what a viewer sees: the coded size (MediaInfo Width/Height, i.e. after the codec's
    cropping: 1080, not 1088) with the width scaled by the sample (pixel) aspect ratio, then swapped for a 90/270
    degree ``rotation`` (clockwise degrees to turn the stored picture for display, as phones record it; MediaInfo's
    Rotation uses the same sense). ``sample_aspect_ratio`` is MediaInfo's PixelAspectRatio (3 decimals) as the
    simplest fraction that rounds to it (1.333 -> 4/3, 0.889 -> 8/9, 0.909 -> 10/11, 1.422 -> 64/45).
    ``scan_type`` is "interlaced" when MediaInfo's ScanType is Interlaced, MBAFF, PAFF or Mixed, or its
    ScanType_Original is Interlaced (DV stores progressive-flagged frames of an interlaced system; ffmpeg decodes
    NTSC/PAL DV as interlaced), else "progressive"; ``field_order`` from ScanOrder (or ScanOrder_Original):
    "tff"/"bff". ``frame_rate`` is frames (not fields) per second, the average for VFR; ``frame_rate_mode`` is
    "vfr" when MediaInfo's FrameRate_Mode says VFR. Codec names are ffprobe's (h264, hevc, mpeg2video, dvvideo,
    wmv2, ac3, pcm_s16le, wmav2, ...).
    Audio: ``audio_tracks`` counts tracks; codec, channels and layout describe the default (else first) track.
    ``audio_channel_layout`` is MediaInfo's ChannelLayout, space-separated channel names in stream order ("L R",
    "L R C LFE Ls Rs"), with two rules: one channel is "C" (MediaInfo says "M" or "C"), and when MediaInfo names
    none, 1 channel is "C", 2 are "L R", more stay None (unknown order). Two mono programmes in one track (AC-3 1+1,
    MPEG audio dual channel) set ``audio_dual_mono`` and report "M M".

What is refused (UnsupportedSource, with a reason the uploader can act on)
    images renamed as video, containers the Transcoder API does not take (FLV, MPEG-PS, Ogg, ...), files without a
    video track (audio only), MP4/MOV whose boxes end past the end of the file (an upload cut short), files whose
    header did not fit in what we read, encrypted video, implausible picture sizes.

MediaInfo's library options are process-wide, so probes run one at a time (a module lock); a probe costs a few
milliseconds of CPU besides its reads.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pymediainfo import MediaInfo

__all__ = [
    "MAX_RANGE_CALLS",
    "MAX_TOTAL_BYTES",
    "READAHEAD_MIN",
    "RangeFile",
    "SourceInfo",
    "UnsupportedSource",
    "probe",
]

ReadRange = Callable[[int, int], bytes]

READAHEAD_MIN = 128 * 1024  # first read; a fast-start MP4 or a Matroska header usually fits
READAHEAD_MAX = 2 * 1024 * 1024  # read-ahead doubles while reads are sequential, up to this
CACHE_CHUNKS = 4  # chunks kept (<= 8 MiB of memory)
MAX_TOTAL_BYTES = 24 * 1024 * 1024  # a 2-hour film's moov is ~5-10 MiB; MediaInfo stops on its own long before
MAX_RANGE_CALLS = 48
# reads the library may make (served from the cache or not): a damaged file can make MediaInfo seek back to the same
# place for ever (seen with a Matroska header with a flipped byte); a real probe makes at most a few hundred
MAX_LIBRARY_READS = 2048
TS_SCAN_BYTES = 1024 * 1024  # MpegTs_MaximumOffset: bytes scanned at the start (and end) of a transport stream
# MediaInfo's AVI parser keeps reading frames long after the headers (17 MB of a 38 MB DV file, whatever the
# ParseSpeed); everything it reports comes from the first MiB (hdrl, a few frames), so AVI gets a smaller budget.
AVI_MAX_BYTES = 2 * 1024 * 1024
MIN_SIZE = 16
MAX_DIMENSION = 16384  # larger than any real video; the transcoder's own limit is checked by the ladder

ACCEPTED_CONTAINERS = ("mp4", "mov", "matroska", "webm", "mpegts", "avi", "asf", "mxf", "gxf")
ACCEPTED_UPLOADS = "MP4, MOV, MKV, WebM, MPEG-TS (.ts, .m2ts), AVI, WMV, MXF or GXF"

_lock = threading.Lock()


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
    container: str  # "mp4" | "mov" | "matroska" | "webm" | "mpegts" | "avi" | "asf" | "mxf" | "gxf" | ...
    video_codec: str | None = None  # ffprobe-style name: h264, hevc, mpeg2video, dvvideo, vp9, ...
    frame_rate: float | None = None  # frames per second (average for VFR; frames, not fields, when interlaced)
    rotation: int = 0  # clockwise degrees the stored picture is turned for display: 0, 90, 180, 270
    audio_codec: str | None = None
    audio_channels: int | None = None
    sample_aspect_ratio: Fraction = Fraction(1)  # pixel aspect ratio of the coded picture (4:3 for 1440x1080 16:9)
    coded_width: int | None = None  # stored pixel size before SAR and rotation
    coded_height: int | None = None
    scan_type: str = "progressive"  # "progressive" | "interlaced" (MBAFF/PAFF/field-coded all "interlaced")
    field_order: str | None = None  # "tff" | "bff" | None
    bit_depth: int | None = None  # video bit depth (8, 10, 12)
    frame_rate_mode: str = "cfr"  # "cfr" | "vfr"
    audio_tracks: int = 0  # number of audio tracks
    audio_channel_layout: str | None = None  # "L R", "L R C LFE Ls Rs", "C", "M M" (dual mono); see module doc
    audio_dual_mono: bool = False  # AC-3 1+1 / two mono programmes in one track
    audio_track_index: int | None = None  # that track's index among all the file's tracks (MediaInfo StreamOrder)
    hdr: str | None = None  # "hlg" | "pq" when the video's transfer is HDR (an iPhone's HLG HEVC, HDR10); else None

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)

    @property
    def is_portrait(self) -> bool:
        return self.height > self.width

    @property
    def stored_width(self) -> int:
        """Width in the stored (pre-rotation) orientation: the coded width when known."""
        if self.coded_width:
            return self.coded_width
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def stored_height(self) -> int:
        if self.coded_height:
            return self.coded_height
        return self.width if self.rotation in (90, 270) else self.height


# --------------------------------------------------------------------------------------------------------------------
# file-like object over read_range


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over ``read_range`` with a bounded read-ahead cache and hard limits.

    Past MAX_TOTAL_BYTES, MAX_RANGE_CALLS or MAX_LIBRARY_READS (``exhausted``), or after ``read_range`` failed
    (``error``, re-raised by :func:`probe`), reads answer end-of-file, so the library finishes cleanly instead of
    unwinding through C.
    ``short_at`` records where storage returned fewer bytes than the declared size promised.
    """

    def __init__(self, read_range: ReadRange, size: int, *, max_bytes: int = MAX_TOTAL_BYTES,
                 max_calls: int = MAX_RANGE_CALLS) -> None:
        super().__init__()
        self._read_range = read_range
        self.size = size
        self.max_bytes = max_bytes
        self.max_calls = max_calls
        self.pos = 0
        self.reads = 0
        self.calls = 0
        self.bytes_read = 0
        self.exhausted = False
        self.error: BaseException | None = None
        self.short_at: int | None = None
        self._chunks: OrderedDict[int, bytes] = OrderedDict()
        self._readahead = READAHEAD_MIN
        self._last_end = -1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        self.reads += 1
        if self.reads > MAX_LIBRARY_READS:
            self.exhausted = True
            return b""
        out = bytearray()
        while len(out) < n:
            piece = self._from_cache(self.pos, n - len(out))
            if piece is None:
                if not self._fetch(self.pos, n - len(out)):
                    break
                continue
            out += piece
            self.pos += len(piece)
        return bytes(out)

    def _from_cache(self, offset: int, length: int) -> bytes | None:
        for start, data in self._chunks.items():
            if start <= offset < start + len(data):
                self._chunks.move_to_end(start)
                return data[offset - start : offset - start + length]
        return None

    def _fetch(self, offset: int, wanted: int) -> bool:
        """One range call covering ``offset`` (with read-ahead); False when the file must end here for the reader."""
        if self.exhausted or self.error is not None or self.short_at is not None:
            return False
        self._readahead = min(READAHEAD_MAX, self._readahead * 2) if offset == self._last_end else READAHEAD_MIN
        length = min(max(wanted, self._readahead), self.size - offset, self.max_bytes - self.bytes_read)
        if self.calls >= self.max_calls or length <= 0:
            self.exhausted = True
            return False
        self.calls += 1
        try:
            data = self._read_range(offset, length)
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"read_range returned {type(data).__name__}, expected bytes")
        except BaseException as exc:  # kept, and re-raised unchanged by probe()
            self.error = exc
            return False
        data = bytes(data[:length])
        self.bytes_read += len(data)
        if len(data) < length:
            self.short_at = offset + len(data)
        if not data:
            return False
        self._chunks[offset] = data
        while len(self._chunks) > CACHE_CHUNKS:
            self._chunks.popitem(last=False)
        self._last_end = offset + len(data)
        return True


# --------------------------------------------------------------------------------------------------------------------
# entry point


def probe(read_range: ReadRange, size: int) -> SourceInfo:
    """Identify the container and tracks of the object of ``size`` bytes; see the module docstring."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"size must be a non-negative int, got {size!r}")
    if size == 0:
        raise UnsupportedSource("the file is empty")
    if size < MIN_SIZE:
        raise UnsupportedSource(f"the file is too small to be a video ({size} bytes)")
    source = RangeFile(read_range, size)
    head = source.read(12)
    source.seek(0)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        source.max_bytes = AVI_MAX_BYTES
    with _lock:
        media = MediaInfo.parse(source, parse_speed=0, mediainfo_options={
            "MpegTs_MaximumOffset": str(TS_SCAN_BYTES),
        })
    if source.error is not None:
        raise source.error
    if source.short_at is not None:
        raise UnsupportedSource(f"the file is truncated: storage holds {source.short_at} bytes where its size says "
                                f"{size}; upload the file again")
    return describe(media, exhausted=source.exhausted)


def describe(media: MediaInfo, *, exhausted: bool = False) -> SourceInfo:
    """SourceInfo from MediaInfo's report, or UnsupportedSource. ``exhausted``: our read limit ended the parse."""
    general = media.general_tracks[0] if media.general_tracks else None
    fmt = (getattr(general, "format", None) or "").strip()
    container = _container(general, fmt)
    videos = [t for t in media.video_tracks if _int(t.width) and _int(t.height)] or list(media.video_tracks)
    audios = list(media.audio_tracks)
    truncated = getattr(general, "istruncated", None) == "Yes" and not exhausted

    if fmt in _IMAGES or (media.image_tracks and not videos):
        raise UnsupportedSource(f"this is a {fmt or 'still'} image, not a video: upload a video file "
                                f"({ACCEPTED_UPLOADS})")
    if container in _REFUSED:
        raise UnsupportedSource(_REFUSED[container])
    if not fmt:
        raise UnsupportedSource(f"unrecognised file format: not a video container the Transcoder API accepts "
                                f"({ACCEPTED_UPLOADS})")
    if container in ("mp4", "mov") and truncated:
        missing = "" if videos else ": its movie header (moov) is missing"
        raise UnsupportedSource(f"the file is truncated{missing}; the upload stopped before the end of the file, "
                                "upload the complete file")
    if not videos:
        if audios:
            raise UnsupportedSource("this file holds audio only: upload a video")
        if truncated:
            raise UnsupportedSource("the file is truncated: no video track was found before its end; upload the "
                                    "complete file")
        if exhausted:
            raise UnsupportedSource("no video track found in what was read of the file: its header is damaged or "
                                    f"larger than {MAX_TOTAL_BYTES // (1024 * 1024)} MiB")
        raise UnsupportedSource(f"no video track: the {fmt} file holds no picture")
    if container not in ACCEPTED_CONTAINERS:
        raise UnsupportedSource(f"{fmt} is not a format the Transcoder API accepts: upload {ACCEPTED_UPLOADS}")
    if container == "mxf":
        profile = (getattr(general, "format_profile", None) or "").replace("-", "").lower()
        if profile and not profile.startswith("op1a"):
            raise UnsupportedSource(f"MXF {general.format_profile} is not accepted: the Transcoder API takes MXF "
                                    "OP1a only; export the clip as OP1a")

    video = next((t for t in videos if getattr(t, "default", None) == "Yes"), videos[0])
    if getattr(video, "encryption", None):
        raise UnsupportedSource("the video track is encrypted (DRM-protected); it cannot be transcoded")
    coded_w, coded_h = _int(video.width) or 0, _int(video.height) or 0
    if coded_w <= 0 or coded_h <= 0:
        raise UnsupportedSource(f"the video track has no picture size ({coded_w}x{coded_h})")
    if coded_w > MAX_DIMENSION or coded_h > MAX_DIMENSION:
        raise UnsupportedSource(f"the video track has an implausible picture size ({coded_w}x{coded_h})")
    sar = _sar(video, coded_w, coded_h)
    rotation = _rotation(getattr(video, "rotation", None))
    width, height = max(1, round(coded_w * sar)), coded_h
    if rotation in (90, 270):
        width, height = height, width

    audio = next((t for t in audios if getattr(t, "default", None) == "Yes"), audios[0]) if audios else None
    layout, dual_mono = _layout(audio) if audio is not None else (None, False)
    return SourceInfo(
        width=width,
        height=height,
        duration_seconds=_duration(general, video),
        has_audio=audio is not None,
        has_video=True,
        container=container,
        video_codec=_video_codec(video),
        frame_rate=_frame_rate(video),
        rotation=rotation,
        audio_codec=_audio_codec(audio) if audio is not None else None,
        audio_channels=_int(getattr(audio, "channel_s", None)) if audio is not None else None,
        sample_aspect_ratio=sar,
        coded_width=coded_w,
        coded_height=coded_h,
        scan_type=_scan_type(video),
        field_order=_field_order(video),
        bit_depth=_int(getattr(video, "bit_depth", None)),
        frame_rate_mode="vfr" if (getattr(video, "frame_rate_mode", None) or "").upper() == "VFR" else "cfr",
        audio_tracks=len(audios),
        audio_channel_layout=layout,
        audio_dual_mono=dual_mono,
        audio_track_index=_stream_order(audio) if audio is not None else None,
        hdr=_hdr(video),
    )


def _hdr(video: Any) -> str | None:
    """The HDR transfer of a video track: MediaInfo's transfer_characteristics "HLG", or "PQ" / "SMPTE ST 2084"
    (HDR10, Dolby Vision's base layer); None for SDR (BT.709, BT.601, ...) and for untagged video."""
    transfer = str(getattr(video, "transfer_characteristics", None) or "").upper()
    if "HLG" in transfer or "ARIB" in transfer:
        return "hlg"
    if transfer.startswith("PQ") or "2084" in transfer:
        return "pq"
    return None


def _stream_order(track: Any) -> int | None:
    """A track's index in the file, counting every track: MediaInfo's StreamOrder ("1", or "0-1" in a transport
    stream: program, then stream), what the Transcoder API's AudioMapping.inputTrack names."""
    order = str(getattr(track, "streamorder", None) or "")
    last = order.rsplit("-", 1)[-1]
    return int(last) if last.isdigit() else None


# --------------------------------------------------------------------------------------------------------------------
# MediaInfo's names -> ours

_CONTAINERS = {
    "MPEG-4": "mp4", "QuickTime": "mov", "Matroska": "matroska", "WebM": "webm", "MPEG-TS": "mpegts",
    "BDAV": "mpegts", "AVI": "avi", "Windows Media": "asf", "MXF": "mxf", "GXF": "gxf", "Wave": "wav",
    "MPEG Audio": "mp3", "ADTS": "aac", "Flash Video": "flv", "MPEG-PS": "mpegps", "Ogg": "ogg", "OGG": "ogg",
    "RealMedia": "rm", "FLAC": "flac", "AIFF": "aiff",
}  # fmt: skip
_IMAGES = {"PNG", "JPEG", "GIF", "BMP", "TIFF", "WebP", "HEIF", "AVIF", "DDS", "PSD", "JPEG 2000", "TGA", "ICO"}
_REFUSED = {
    "flv": f"FLV is not a format the Transcoder API accepts (Flash Video): re-export it as {ACCEPTED_UPLOADS}",
    "mpegps": "MPEG program stream (.mpg, .vob) is not a format the Transcoder API accepts: remux it to MPEG-TS "
              "or MP4",
    "ogg": "Ogg is not a video format the Transcoder API accepts: re-export it as WebM or MP4",
    "rm": "RealMedia is not a format the Transcoder API accepts: re-export it as MP4",
}
_VIDEO_CODECS = {
    "AVC": "h264", "HEVC": "hevc", "VP8": "vp8", "VP9": "vp9", "AV1": "av1", "MPEG-4 Visual": "mpeg4",
    "DV": "dvvideo", "ProRes": "prores", "VC-1": "vc1", "VC-3": "dnxhd", "WMV1": "wmv1", "WMV2": "wmv2",
    "WMV3": "wmv3", "Theora": "theora", "H.263": "h263", "JPEG": "mjpeg", "FFV1": "ffv1", "Sorenson Spark": "flv1",
    "JPEG 2000": "jpeg2000", "H.261": "h261", "AVS": "cavs",
}  # fmt: skip
_AUDIO_CODECS = {
    "AAC": "aac", "AC-3": "ac3", "E-AC-3": "eac3", "FLAC": "flac", "Opus": "opus", "Vorbis": "vorbis",
    "ALAC": "alac", "DTS": "dts", "MLP FBA": "truehd", "TrueHD": "truehd", "AMR": "amr_nb", "AMR-WB": "amr_wb",
}  # fmt: skip


def _container(general: Any, fmt: str) -> str:
    if fmt == "MPEG-4" and (getattr(general, "format_profile", None) == "QuickTime"
                            or (getattr(general, "codec_id", None) or "").strip() == "qt"):
        return "mov"
    return _CONTAINERS.get(fmt, fmt.lower().replace(" ", "_"))


def _int(value: Any) -> int | None:
    """MediaInfo gives numbers as int, "2", "2 / 1" or "1 920 pixels"-style strings; the first integer or None."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).split("/")[0].strip()
    try:
        return int(float(text))
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    try:
        number = float(str(value).split("/")[0].strip())
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _sar(video: Any, coded_w: int, coded_h: int) -> Fraction:
    """MediaInfo's PixelAspectRatio (3 decimals) as the simplest fraction that rounds to it (denominator <= 100)."""
    par = _float(getattr(video, "pixel_aspect_ratio", None))
    if par is None or not 0.1 <= par <= 10:
        dar = _float(getattr(video, "display_aspect_ratio", None))
        if dar is None or not 0.1 <= dar <= 10:
            return Fraction(1)
        par = dar * coded_h / coded_w
    for den in range(1, 101):
        num = round(par * den)
        if num and abs(num / den - par) <= 0.0005 + 1e-9:
            return Fraction(num, den)
    return Fraction(par).limit_denominator(100)


def _rotation(value: Any) -> int:
    degrees = _float(value)
    if degrees is None:
        return 0
    quarter = round(degrees / 90.0)
    return (quarter * 90) % 360 if abs(degrees / 90.0 - quarter) < 0.1 else 0


def _duration(general: Any, video: Any) -> float | None:
    for track in (general, video):
        ms = _float(getattr(track, "duration", None))
        if ms is not None and ms > 0:
            return round(ms / 1000.0, 6)
    return None


def _frame_rate(video: Any) -> float | None:
    for field in ("frame_rate", "frame_rate_nominal", "original_frame_rate"):
        fps = _float(getattr(video, field, None))
        if fps is not None and 0 < fps <= 1000:
            return round(fps, 3)
    return None


def _scan_type(video: Any) -> str:
    for field in ("scan_type", "original_scan_type", "scan_type_store_method"):
        value = (getattr(video, field, None) or "").lower()
        if any(word in value for word in ("interlaced", "mbaff", "paff", "mixed", "field")):
            return "interlaced"
    return "progressive"


def _field_order(video: Any) -> str | None:
    if _scan_type(video) != "interlaced":
        return None
    for field in ("scan_order", "original_scan_order", "scan_order_stored"):
        value = (getattr(video, field, None) or "").upper()
        if value.startswith("TFF"):
            return "tff"
        if value.startswith("BFF"):
            return "bff"
    return None


def _video_codec(video: Any) -> str | None:
    fmt = (getattr(video, "format", None) or "").strip()
    if fmt == "MPEG Video":
        return "mpeg1video" if getattr(video, "format_version", None) == "Version 1" else "mpeg2video"
    return _VIDEO_CODECS.get(fmt, fmt.lower() or None)


def _audio_codec(audio: Any) -> str | None:
    fmt = (getattr(audio, "format", None) or "").strip()
    if fmt == "MPEG Audio":
        layer = getattr(audio, "format_profile", None) or ""
        return {"Layer 1": "mp1", "Layer 2": "mp2"}.get(layer, "mp3")
    if fmt == "WMA":
        version = getattr(audio, "format_version", None) or ""
        codec_id = str(getattr(audio, "codec_id", None) or "")
        if "Pro" in str(getattr(audio, "format_profile", None) or "") or codec_id == "162":
            return "wmapro"
        return "wmav1" if version == "Version 1" or codec_id == "160" else "wmav2"
    if fmt == "PCM":
        depth = _int(getattr(audio, "bit_depth", None)) or 16
        settings = " ".join(str(getattr(audio, f, None) or "") for f in (
            "format_settings", "format_settings_endianness", "format_settings_sign", "codec_id"))
        if depth == 8:
            return "pcm_u8"
        if "Float" in settings:
            return f"pcm_f{depth}{'be' if 'Big' in settings else 'le'}"
        big = "Big" in settings or any(tag in settings for tag in ("twos", "in24", "in32"))
        return f"pcm_s{depth}{'be' if big else 'le'}"
    return _AUDIO_CODECS.get(fmt, fmt.lower() or None)


def _layout(audio: Any) -> tuple[str | None, bool]:
    channels = _int(getattr(audio, "channel_s", None))
    described = " ".join(str(getattr(audio, f, None) or "") for f in (
        "mode", "format_settings", "format_settings_mode", "channel_layout", "channel_positions"))
    raw = (getattr(audio, "channel_layout", None) or "").split()
    dual = "dual mono" in described.lower() or "1+1" in described or raw == ["M", "M"]
    if dual:
        return "M M", True
    if raw:
        return ("C" if len(raw) == 1 and raw[0] in ("M", "C") else " ".join(raw)), False
    return {1: "C", 2: "L R"}.get(channels or 0), False
