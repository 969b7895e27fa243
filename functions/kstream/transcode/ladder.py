"""Build the Transcoder API job config from what the probe learned about the source, not from a fixed preset.

    build_job_config(source, input_uri=..., output_uri=..., pubsub_topic=...) -> dict   (REST JSON, camelCase)
    to_proto(config)                -> transcoder_v1.JobConfig   the same, as the client library's message
    plan_renditions(source, rungs)  -> [Rendition]     the video ladder alone (names, display sizes, bitrates)
    rendition_names(config)         -> ["360p", ...]   names of the video renditions in a built config
    estimate_minutes(source)        -> int             rough wall-clock minutes the job will take
    check_transcodable(source)      -> None            raises UnsupportedSource past the Transcoder API's input limits
    subtitle_mux_key(language)      -> "subtitles-en"  mux stream (and HLS playlist ``<key>.m3u8``) of a caption track

The dict is a ``google.cloud.video.transcoder_v1.JobConfig`` in its REST JSON form (camelCase keys, durations as
``"6s"``, enums as names): send it as is over REST, or turn it into the client library's message with
``to_proto(cfg)`` (= ``JobConfig.from_json(json.dumps(cfg))``) for ``Job(config=...)``. proto-plus constructors
take snake_case keys, so ``Job(config=cfg)`` with the dict itself does not work.
The decision record is docs/decisions/0003-bitrate-ladder.md.

Ladder (H.264 High + AAC-LC). A rung is a 16:9 bounding box in the source's orientation: 360p = 640x360,
720p = 1280x720, 1080p = 1920x1080 (portrait: 360x640, ...). The source is scaled to fit the box, keeping its
aspect ratio, so for 16:9, 4:3, square and portrait sources the rung is the *short side* (a portrait 1080x1920 phone
clip gets 360x640, 720x1280, 1080x1920) and a wider-than-16:9 film (1920x800) is bounded by the long side (1080p =
1920x800, not 1728x720 and not dropped). Both sizes are even. Rungs needing an upscale are dropped (1% slack for
sources like 1916x1076, which keep the rung at their own size). When a rung was dropped and the source is still at
least 20% larger than the highest kept rung (a 960x540 source: 360p only), one more rendition at the source's own
size is added (named by its short side, "540p"); a source smaller than 360p gets just that one rendition.

Bitrates: VIDEO_BITRATES below, scaled for renditions with fewer pixels than their rung's box by
(pixels / box pixels) ** 0.75 (the usual sub-linear bits-per-pixel rule), floor MIN_VIDEO_BITRATE_BPS.

Packaging: one video-only fMP4 mux stream per rendition plus one audio-only fMP4 mux stream (when the source has
audio) are shared by the HLS manifest (``manifest.m3u8``, fMP4 segments, audio as an alternate rendition) and the
DASH manifest (``manifest.mpd``, SegmentTemplate numbering), so segments are stored once for both protocols -- the
shape of Google's ``preset/web-hd``. A progressive ``progressive.mp4`` (video + audio muxed) of the highest
rendition no larger than 720p serves byte-range downloads. Two sprite sheets: ``poster`` (one frame ~10% in,
up to 1280x720) and ``storyboard`` (160 px wide thumbnails, 10x10 per sheet, interval from the duration).

Rotation: the Transcoder API takes sizes in the source's stored orientation and swaps them itself when the source
carries rotation metadata, so for a 90/270-degree source the display sizes computed here are swapped back.

Sources as broadcasters and fans deliver them (docs/decisions/0007-accepted-sources.md):
    Anamorphic  the probe's width/height are the DISPLAY size (after the sample aspect ratio), so every rendition
                is square-pixel at the display aspect: 1440x1080 SAR 4:3 -> 16:9 rungs, DV 720x480 SAR 8:9 ->
                640x480 ("480p") and 480x360; no rendition is larger than the display size.
    Interlaced  ``inputs[0].preprocessingConfig.deinterlace.bwdif`` with the probed field order as ``parity``
                (``auto`` when unknown). ``mode`` is ``send_field`` (one frame per field) when the field rate fits
                under FRAME_RATE_CAP, else ``send_frame``: 1080i29.97, 1080i25 and 480i come out 29.97p/25p.
    Frame rate  every rung has the same output rate, so keyframes (gopDuration) fall on the same frames and every
                segment of every rung starts on one: 23.976/25/29.97 pass through, 50/59.94 are halved by
                DOWNSAMPLE; a variable-frame-rate source gets a constant rate (DROP_DUPLICATE at the standard rate
                its average is within 1% of, else 30: no frame of a 30 fps stretch is dropped).
    10-bit      ``pixelFormat: yuv420p`` on every rung: 8-bit H.264 High, playable everywhere.
    HDR         an HLG or PQ source (an iPhone's HLG HEVC, an HDR10 master) gets ``h264.sdr`` on every rung: the
                API converts it to SDR BT.709, so every screen shows it right (no rung stays HLG- or PQ-tagged,
                which SDR-only players would show washed out); an SDR source's config is unchanged.
    Audio       the first (default) audio track. 5.1 / 7.1 -> stereo through ``audioStream.mapping`` with the
                ITU-R BS.775 downmix (L = FL + C -3 dB + SL -3 dB [+ BL -3 dB], R likewise, LFE dropped);
                dual-mono (two programmes, e.g. Korean + original language) -> the first programme on both
                channels; mono stays mono; other layouts are left to the API's own downmix.
    Captions    ``subtitles=[SubtitleInput(language, label, uri)]`` (WebVTT in Cloud Storage) become, as Google's
                sample ``create_job_with_standalone_captions`` builds them: one input ``caption-<n>`` per track,
                listed in the edit atom; a ``textStream`` (webvtt, languageCode, displayName, mapping) and a
                ``vtt`` mux stream ``subtitles-<language>`` with the video's segment settings, listed in the
                HLS manifest only (the reference documents vtt mux streams for HLS).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kstream.transcode import watermark
from kstream.transcode.media_probe import SourceInfo, UnsupportedSource

__all__ = [
    "AUDIO_BITRATE_BPS",
    "AUDIO_SAMPLE_RATE_HZ",
    "FRAME_RATE_CAP",
    "LADDER",
    "MIN_VIDEO_BITRATE_BPS",
    "Rendition",
    "Rung",
    "SubtitleInput",
    "build_job_config",
    "check_transcodable",
    "estimate_minutes",
    "gop_seconds_for",
    "plan_renditions",
    "rendition_names",
    "storyboard_interval_seconds",
    "subtitle_mux_key",
    "to_proto",
]


@dataclass(frozen=True)
class Rung:
    name: str
    short_side: int  # of the 16:9 box
    long_side: int
    video_bitrate_bps: int

    @property
    def box_pixels(self) -> int:
        return self.short_side * self.long_side


# Average video bitrates for H.264 High profile, <= 30 fps, 16:9.
#   360p  800 kbps  Apple's HLS authoring spec ladder has 640x360 at 365 kbps and 768x432 at 730-1100 kbps;
#                   800 kbps keeps the lowest rung watchable on phones (dark, grainy drama scenes band badly
#                   below that) while staying under ~1 Mbps for weak mobile links.
#   720p  3 Mbps    Apple: 1280x720 at 3000 / 4500 kbps; YouTube's SDR upload guidance is 5 Mbps at 720p30.
#   1080p 6 Mbps    Apple: 1920x1080 at 6000 / 7800 kbps; YouTube's guidance 8 Mbps at 1080p30 (for uploads).
# The Transcoder encodes VBR with a VBV buffer of one second at this rate by default.
LADDER: dict[str, Rung] = {
    "360p": Rung("360p", 360, 640, 800_000),
    "720p": Rung("720p", 720, 1280, 3_000_000),
    "1080p": Rung("1080p", 1080, 1920, 6_000_000),
}
VIDEO_BITRATES = {name: rung.video_bitrate_bps for name, rung in LADDER.items()}
MIN_VIDEO_BITRATE_BPS = 150_000
# AAC-LC, 48 kHz: 128 kbps stereo is transparent enough for dialogue and OST music; Apple's spec allows
# 32-160 kbps stereo AAC-LC. Mono sources stay mono at half the rate.
AUDIO_CODEC = "aac"
AUDIO_BITRATE_BPS = 128_000
AUDIO_MONO_BITRATE_BPS = 64_000
AUDIO_SAMPLE_RATE_HZ = 48_000
# Drama is shot at 23.976-30 fps; 50/60 fps sources are halved (59.94 -> 29.97) by the DOWNSAMPLE strategy.
FRAME_RATE_CAP = 30.0
FIT_TOLERANCE = 0.01  # keep a rung for a source up to 1% smaller than its box (encoded at the source's size)
NATIVE_RUNG_MIN_GAIN = 1.2  # add a source-size rendition when it is at least this much above the top kept rung
PROGRESSIVE_MAX_SHORT_SIDE = 720
POSTER_BOX = (1280, 720)
POSTER_POSITION = 0.10  # fraction of the duration
STORYBOARD_SPRITE_WIDTH = 160
STORYBOARD_COLUMNS = STORYBOARD_ROWS = 10
# Transcoder API input limits (https://cloud.google.com/transcoder/docs/concepts/overview#limits)
MAX_INPUT_SIDE = 4096
MIN_INPUT_SECONDS = 5.0

DEFAULT_FORMATS = frozenset({"hls", "dash"})
DEFAULT_RUNGS = ("360p", "720p", "1080p")

INPUT_KEY = "input0"
ATOM_KEY = "atom0"
AUDIO_ES_KEY = "es-audio"
AUDIO_MUX_KEY = "audio"
PROGRESSIVE_MUX_KEY = "progressive"
VIDEO_ES_PREFIX = "es-video-"
VIDEO_MUX_PREFIX = "video-"
HLS_MANIFEST = "manifest.m3u8"
DASH_MANIFEST = "manifest.mpd"
PROGRESSIVE_FILE = "progressive.mp4"
POSTER_PREFIX = "poster"
STORYBOARD_PREFIX = "storyboard"

CAPTION_INPUT_PREFIX = "caption-"
TEXT_ES_PREFIX = "es-text-"
SUBTITLE_MUX_PREFIX = "subtitles-"
MAX_SUBTITLE_TRACKS = 20

# Deinterlacing: bwdif (yadif's successor in FFmpeg: yadif's edge-directed interpolation with w3fdif's filter
# coefficients; sharper, less shimmer, about the same cost).
DEINTERLACER = "bwdif"
# Standard constant rates a variable-frame-rate source may be conformed to (when its average is one of them).
STANDARD_FRAME_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0)
VFR_DEFAULT_FRAME_RATE = FRAME_RATE_CAP
# The track index (in the input file, counting every track) of the audio the mapping reads: the probe's
# audio_track_index, or track 1 when the container did not say (the picture first, as in every container we take).
FIRST_AUDIO_TRACK = 1
MINUS_3_DB = round(20 * math.log10(math.sqrt(0.5)), 4)  # -3.0103 dB, a gain of 1/sqrt(2) (ITU-R BS.775)
# ITU-R BS.775 stereo downmix as (input channel, output channel, gain dB), channels in decoded (FFmpeg / SMPTE)
# order. 5.1: FL FR FC LFE SL SR; 7.1: FL FR FC LFE BL BR SL SR. LFE (3) is dropped, as BS.775 and Dolby's
# Lo/Ro do.
DOWNMIX_5_1 = (
    (0, 0, 0.0), (2, 0, MINUS_3_DB), (4, 0, MINUS_3_DB),
    (1, 1, 0.0), (2, 1, MINUS_3_DB), (5, 1, MINUS_3_DB),
)
DOWNMIX_7_1 = (
    (0, 0, 0.0), (2, 0, MINUS_3_DB), (4, 0, MINUS_3_DB), (6, 0, MINUS_3_DB),
    (1, 1, 0.0), (2, 1, MINUS_3_DB), (5, 1, MINUS_3_DB), (7, 1, MINUS_3_DB),
)
STEREO = ((0, 0, 0.0), (1, 1, 0.0))
DUAL_MONO_FIRST_PROGRAMME = ((0, 0, 0.0), (0, 1, 0.0))
MONO = ((0, 0, 0.0),)

_TOPIC = re.compile(r"^projects/[^/]+/topics/[^/]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")  # BCP 47 shape: ko, en, en-US, zh-Hant, pt-BR


@dataclass(frozen=True)
class SubtitleInput:
    """One caption track to burn into the job's outputs as a WebVTT rendition (not into the picture)."""

    language: str  # BCP 47: "en", "ko", "pt-BR"
    label: str  # display name in the player's menu: "English", "한국어"
    uri: str  # gs:// of a WebVTT (UTF-8) file


def subtitle_mux_key(language: str) -> str:
    """The mux stream key of a caption track; the HLS media playlist is ``<key>.m3u8`` (``subtitles-en.m3u8``)."""
    return SUBTITLE_MUX_PREFIX + language.lower()


@dataclass(frozen=True)
class Rendition:
    name: str  # "360p", "720p", "1080p", or "<short side>p" for a source-size rendition
    width: int  # display orientation, even
    height: int
    video_bitrate_bps: int

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)


# --------------------------------------------------------------------------------------------------------------------
# the ladder


def _even_floor(x: float) -> int:
    return max(2, int(x) // 2 * 2)


def _even_round(x: float, cap: int) -> int:
    """x rounded to the nearest even integer, never above ``cap`` (the source size, floored to even)."""
    return max(2, min(2 * round(x / 2), _even_floor(cap)))


def _scaled(source: SourceInfo, scale: float) -> tuple[int, int]:
    return _even_round(source.width * scale, source.width), _even_round(source.height * scale, source.height)


def _bitrate_for(width: int, height: int) -> int:
    pixels = width * height
    ref = next((r for r in sorted(LADDER.values(), key=lambda r: r.box_pixels) if r.box_pixels >= pixels), None)
    ref = ref or max(LADDER.values(), key=lambda r: r.box_pixels)
    bps = ref.video_bitrate_bps * (pixels / ref.box_pixels) ** 0.75
    return max(MIN_VIDEO_BITRATE_BPS, round(bps / 10_000) * 10_000)


def _validate_source(source: SourceInfo) -> None:
    if not source.has_video or source.width <= 0 or source.height <= 0:
        raise UnsupportedSource(f"source has no usable video track ({source.width}x{source.height})")


def plan_renditions(source: SourceInfo, rungs: Sequence[str] = DEFAULT_RUNGS) -> list[Rendition]:
    """The video renditions for ``source``, smallest first (see the module docstring for the rules)."""
    _validate_source(source)
    unknown = [r for r in rungs if r not in LADDER]
    if unknown or not rungs:
        raise ValueError(f"rungs must be a non-empty subset of {sorted(LADDER)}, got {list(rungs)!r}")
    src_long, src_short = max(source.width, source.height), min(source.width, source.height)
    wanted = sorted({LADDER[r] for r in rungs}, key=lambda r: r.short_side)
    out: list[Rendition] = []
    dropped = False
    for rung in wanted:
        scale = min(rung.long_side / src_long, rung.short_side / src_short)
        if scale > 1 + FIT_TOLERANCE:
            dropped = True  # the source is smaller than this rung: no upscaling
            continue
        w, h = _scaled(source, min(scale, 1.0))
        if out and (w, h) == (out[-1].width, out[-1].height):
            continue
        out.append(Rendition(rung.name, w, h, min(rung.video_bitrate_bps, _bitrate_for(w, h))))
    native_w, native_h = _scaled(source, 1.0)
    native_short = min(native_w, native_h)
    if not out or (dropped and native_short >= out[-1].short_side * NATIVE_RUNG_MIN_GAIN):
        out.append(Rendition(f"{native_short}p", native_w, native_h, _bitrate_for(native_w, native_h)))
    return out


def gop_seconds_for(segment_seconds: float) -> float:
    """GOP length for a segment length: the largest of 2, 1.5, 1, 0.5 s that divides it (6 s segments -> 2 s GOPs,
    Apple's recommendation), so every segment starts on a keyframe and all renditions switch at the same points."""
    if not (isinstance(segment_seconds, (int, float)) and 0 < segment_seconds <= 60):
        raise ValueError(f"segment_seconds must be in (0, 60], got {segment_seconds!r}")
    for gop in (2.0, 1.5, 1.0, 0.5):
        ratio = segment_seconds / gop
        if ratio >= 1 and abs(ratio - round(ratio)) < 1e-9:
            return gop
    raise ValueError(f"segment_seconds must be a multiple of 0.5 s, got {segment_seconds!r}")


def storyboard_interval_seconds(duration_seconds: float | None) -> int:
    """Seconds between storyboard thumbnails: ~300 thumbnails over the video, between 2 s and 10 s apart."""
    if not duration_seconds or duration_seconds <= 0:
        return 10
    return int(min(10, max(2, math.ceil(duration_seconds / 300))))


def _duration(seconds: float) -> str:
    """A google.protobuf.Duration in its JSON form: "6s", "1.5s", "0.25s"."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _api_size(source: SourceInfo, width: int, height: int) -> tuple[int, int]:
    """Display size -> the size to request: the API wants the stored orientation and rotates the output itself."""
    return (height, width) if source.rotation in (90, 270) else (width, height)


def _fit(source: SourceInfo, box: tuple[int, int]) -> tuple[int, int]:
    long_box, short_box = max(box), min(box)
    src_long, src_short = max(source.width, source.height), min(source.width, source.height)
    return _scaled(source, min(1.0, long_box / src_long, short_box / src_short))


# --------------------------------------------------------------------------------------------------------------------
# what the source needs: deinterlacing, a constant frame rate, a stereo downmix


def _is_interlaced(source: SourceInfo) -> bool:
    return source.scan_type == "interlaced"


def deinterlace_for(source: SourceInfo) -> dict[str, Any] | None:
    """``preprocessingConfig.deinterlace`` for an interlaced source (None for progressive).

    One frame per field (``send_field``, full motion) when the field rate fits under FRAME_RATE_CAP, else one frame
    per frame (``send_frame``): the ladder encodes at most 30 fps, and DOWNSAMPLE would otherwise throw away every
    second bobbed frame, which is a worse send_frame. ``parity`` is the probed field order, ``auto`` if unknown.
    """
    if not _is_interlaced(source):
        return None
    field_rate = 2 * source.frame_rate if source.frame_rate else None
    mode = "send_field" if field_rate and field_rate <= FRAME_RATE_CAP * (1 + FIT_TOLERANCE) else "send_frame"
    parity = source.field_order
    return {DEINTERLACER: {"mode": mode, "parity": parity if parity in ("tff", "bff") else "auto"}}


def output_frame_rate(source: SourceInfo) -> tuple[float, str]:
    """(frameRate, frameRateConversionStrategy) shared by every rung.

    Constant-rate sources: FRAME_RATE_CAP with DOWNSAMPLE (23.976/25/29.97/30 pass through, 50/59.94 halve).
    Variable-rate sources: DROP_DUPLICATE to a constant rate, so a GOP is a whole number of frames at the same
    times in every rung: the standard rate the average is within 1% of (a film-rate clip with jittery
    timestamps stays 23.976/24/25), else FRAME_RATE_CAP, which keeps every frame of a phone's 30 fps stretches
    and repeats frames where it slowed down (an average of 20 fps is 30 and 15 fps parts, not 20 fps).
    """
    if source.frame_rate_mode != "vfr":
        return FRAME_RATE_CAP, "DOWNSAMPLE"
    average = source.frame_rate or 0.0
    near = [r for r in STANDARD_FRAME_RATES if abs(average - r) <= r * FIT_TOLERANCE]
    if not near:
        return VFR_DEFAULT_FRAME_RATE, "DROP_DUPLICATE"
    return round(min(near, key=lambda r: abs(average - r)), 3), "DROP_DUPLICATE"


def audio_mapping_for(source: SourceInfo) -> tuple[tuple[int, int, float], ...] | None:
    """(input channel, output channel, gain dB) for the first audio track, or None to let the API map it.

    5.1 and 7.1 -> BS.775 stereo downmix; dual-mono -> the first programme on both channels; with several audio
    tracks the first track is pinned explicitly (stereo, or mono as it is). Other layouts: None (the API's
    downmix).
    """
    if not source.has_audio:
        return None
    channels = source.audio_channels or 2
    if source.audio_dual_mono:
        return DUAL_MONO_FIRST_PROGRAMME
    if channels == 6:
        return DOWNMIX_5_1
    if channels == 8:
        return DOWNMIX_7_1
    if source.audio_tracks > 1 and channels in (1, 2):
        return MONO if channels == 1 else STEREO
    return None


def _audio_stream(source: SourceInfo) -> dict[str, Any]:
    mapping = audio_mapping_for(source)
    mono = source.audio_channels == 1 and mapping in (None, MONO)
    stream: dict[str, Any] = {
        "codec": AUDIO_CODEC,
        "bitrateBps": AUDIO_MONO_BITRATE_BPS if mono else AUDIO_BITRATE_BPS,
        "channelCount": 1 if mono else 2,
        "channelLayout": ["fc"] if mono else ["fl", "fr"],
        "sampleRateHertz": AUDIO_SAMPLE_RATE_HZ,
    }
    if mapping:
        audio_track = FIRST_AUDIO_TRACK if source.audio_track_index is None else source.audio_track_index
        stream["mapping"] = [
            {
                "atomKey": ATOM_KEY,
                "inputKey": INPUT_KEY,
                "inputTrack": audio_track,
                "inputChannel": in_ch,
                "outputChannel": out_ch,
                "gainDb": gain,
            }
            for in_ch, out_ch, gain in mapping
        ]
    return stream


def _check_subtitles(subtitles: Sequence[SubtitleInput]) -> list[SubtitleInput]:
    tracks = list(subtitles)
    if len(tracks) > MAX_SUBTITLE_TRACKS:
        raise ValueError(f"at most {MAX_SUBTITLE_TRACKS} subtitle tracks, got {len(tracks)}")
    seen: set[str] = set()
    for i, track in enumerate(tracks):
        if not isinstance(track, SubtitleInput):
            raise ValueError(f"subtitles[{i}] must be a SubtitleInput, got {type(track).__name__}")
        if not _LANGUAGE.match(track.language or ""):
            raise ValueError(f"subtitles[{i}].language must be a BCP 47 tag like 'en' or 'pt-BR', "
                             f"got {track.language!r}")
        if track.language.lower() in seen:
            raise ValueError(f"subtitles[{i}].language {track.language!r} appears twice")
        seen.add(track.language.lower())
        if not (track.label or "").strip():
            raise ValueError(f"subtitles[{i}].label must name the track, got {track.label!r}")
        if not (track.uri or "").startswith("gs://"):
            raise ValueError(f"subtitles[{i}].uri must be a gs:// URI, got {track.uri!r}")
    return tracks


# --------------------------------------------------------------------------------------------------------------------
# the job config


def build_job_config(
    source: SourceInfo,
    *,
    input_uri: str,
    output_uri: str,
    pubsub_topic: str,
    segment_seconds: float = 6.0,
    formats: Iterable[str] = DEFAULT_FORMATS,
    rungs: Sequence[str] = DEFAULT_RUNGS,
    subtitles: Sequence[SubtitleInput] = (),
) -> dict[str, Any]:
    """The Transcoder JobConfig (REST JSON form) for ``source`` at ``input_uri``, written under ``output_uri``,
    with one WebVTT rendition per ``subtitles`` track in the HLS manifest.

    Raises ValueError for bad arguments and UnsupportedSource for a source without a usable video track.
    """
    _validate_source(source)
    formats = {f.lower() for f in formats}
    if not formats or not formats <= DEFAULT_FORMATS:
        raise ValueError(f"formats must be a non-empty subset of {sorted(DEFAULT_FORMATS)}, got {sorted(formats)}")
    if not input_uri.startswith("gs://"):
        raise ValueError(f"input_uri must be a gs:// URI, got {input_uri!r}")
    if not output_uri.startswith("gs://"):
        raise ValueError(f"output_uri must be a gs:// URI, got {output_uri!r}")
    if not output_uri.endswith("/"):
        output_uri += "/"  # the API treats the output URI as a folder
    if not _TOPIC.match(pubsub_topic):
        raise ValueError(f"pubsub_topic must be 'projects/<project>/topics/<topic>', got {pubsub_topic!r}")
    gop = gop_seconds_for(segment_seconds)
    tracks = _check_subtitles(subtitles)
    renditions = plan_renditions(source, rungs)
    segment_settings = {"segmentDuration": _duration(segment_seconds), "individualSegments": True}
    frame_rate, frame_rate_strategy = output_frame_rate(source)

    elementary: list[dict[str, Any]] = []
    mux: list[dict[str, Any]] = []
    for r in renditions:
        width, height = _api_size(source, r.width, r.height)
        elementary.append(
            {
                "key": VIDEO_ES_PREFIX + r.name,
                "videoStream": {
                    "h264": {
                        "widthPixels": width,
                        "heightPixels": height,
                        "frameRate": frame_rate,
                        "frameRateConversionStrategy": frame_rate_strategy,
                        "bitrateBps": r.video_bitrate_bps,
                        "rateControlMode": "vbr",
                        "gopDuration": _duration(gop),
                        "profile": "high",
                        "pixelFormat": "yuv420p",
                        **({"sdr": {}} if source.hdr else {}),
                    }
                },
            }
        )
        mux.append(
            {
                "key": VIDEO_MUX_PREFIX + r.name,
                "container": "fmp4",
                "elementaryStreams": [VIDEO_ES_PREFIX + r.name],
                "segmentSettings": dict(segment_settings),
            }
        )
    streaming_keys = [m["key"] for m in mux]
    if source.has_audio:
        elementary.append({"key": AUDIO_ES_KEY, "audioStream": _audio_stream(source)})
        mux.append(
            {
                "key": AUDIO_MUX_KEY,
                "container": "fmp4",
                "elementaryStreams": [AUDIO_ES_KEY],
                "segmentSettings": dict(segment_settings),
            }
        )
        streaming_keys.append(AUDIO_MUX_KEY)

    progressive = next((r for r in reversed(renditions) if r.short_side <= PROGRESSIVE_MAX_SHORT_SIDE), renditions[0])
    mux.append(
        {
            "key": PROGRESSIVE_MUX_KEY,
            "fileName": PROGRESSIVE_FILE,
            "container": "mp4",
            "elementaryStreams": [VIDEO_ES_PREFIX + progressive.name] + ([AUDIO_ES_KEY] if source.has_audio else []),
        }
    )

    inputs: list[dict[str, Any]] = [{"key": INPUT_KEY, "uri": input_uri}]
    deinterlace = deinterlace_for(source)
    if deinterlace:
        inputs[0]["preprocessingConfig"] = {"deinterlace": deinterlace}
    subtitle_keys: list[str] = []
    for n, track in enumerate(tracks):
        input_key = f"{CAPTION_INPUT_PREFIX}{n}"
        es_key, mux_key = TEXT_ES_PREFIX + track.language.lower(), subtitle_mux_key(track.language)
        inputs.append({"key": input_key, "uri": track.uri})
        elementary.append(
            {
                "key": es_key,
                "textStream": {
                    "codec": "webvtt",
                    "languageCode": track.language,
                    "displayName": track.label,
                    "mapping": [{"atomKey": ATOM_KEY, "inputKey": input_key}],
                },
            }
        )
        mux.append(
            {
                "key": mux_key,
                "container": "vtt",
                "elementaryStreams": [es_key],
                "segmentSettings": dict(segment_settings),
            }
        )
        subtitle_keys.append(mux_key)

    manifests: list[dict[str, Any]] = []
    if "hls" in formats:
        manifests.append({"fileName": HLS_MANIFEST, "type": "HLS", "muxStreams": streaming_keys + subtitle_keys})
    if "dash" in formats:
        manifests.append(
            {
                "fileName": DASH_MANIFEST,
                "type": "DASH",
                "muxStreams": list(streaming_keys),
                "dash": {"segmentReferenceScheme": "SEGMENT_TEMPLATE_NUMBER"},
            }
        )

    return {
        "inputs": inputs,
        "editList": [{"key": ATOM_KEY, "inputs": [i["key"] for i in inputs]}],
        "elementaryStreams": elementary,
        "muxStreams": mux,
        "manifests": manifests,
        "output": {"uri": output_uri},
        "spriteSheets": _sprite_sheets(source),
        "pubsubDestination": {"topic": pubsub_topic},
        **watermark.job_overlays(source),  # the site watermark on every rendition when KSTREAM_WATERMARK_LOGO is set
    }


def _sprite_sheets(source: SourceInfo) -> list[dict[str, Any]]:
    poster_w, poster_h = _api_size(source, *_fit(source, POSTER_BOX))
    poster: dict[str, Any] = {
        "filePrefix": POSTER_PREFIX,
        "format": "jpeg",
        "spriteWidthPixels": poster_w,
        "spriteHeightPixels": poster_h,
        "columnCount": 1,
        "rowCount": 1,
        "totalCount": 1,
    }
    if source.duration_seconds:
        poster["startTimeOffset"] = _duration(source.duration_seconds * POSTER_POSITION)
    thumb_w = min(STORYBOARD_SPRITE_WIDTH, _even_floor(source.width))
    thumb_h = _even_round(thumb_w * source.height / source.width, source.height)
    board_w, board_h = _api_size(source, thumb_w, thumb_h)
    storyboard = {
        "filePrefix": STORYBOARD_PREFIX,
        "format": "jpeg",
        "spriteWidthPixels": board_w,
        "spriteHeightPixels": board_h,
        "columnCount": STORYBOARD_COLUMNS,
        "rowCount": STORYBOARD_ROWS,
        "interval": _duration(storyboard_interval_seconds(source.duration_seconds)),
        "quality": 80,
    }
    return [poster, storyboard]


# --------------------------------------------------------------------------------------------------------------------
# helpers for callers


def rendition_names(config: Mapping[str, Any]) -> list[str]:
    """Names of the video renditions in a config from build_job_config, smallest first: ["360p", "720p", ...]."""
    return [
        es["key"][len(VIDEO_ES_PREFIX) :]
        for es in config.get("elementaryStreams", [])
        if "videoStream" in es and str(es.get("key", "")).startswith(VIDEO_ES_PREFIX)
    ]


def to_proto(config: Mapping[str, Any]):
    """The config as a ``google.cloud.video.transcoder_v1.JobConfig`` (strict: unknown fields raise)."""
    import json

    from google.cloud.video import transcoder_v1

    return transcoder_v1.JobConfig.from_json(json.dumps(config))


def estimate_minutes(source: SourceInfo) -> int:
    """Rough wall-clock minutes for the job (for a UI estimate and a stuck-job timeout, not a promise).

    A fixed ~3 min of queueing/start-up plus a fraction of the running time that grows with the top rendition:
    ~0.25x for a 360p-only ladder, ~0.4x up to 720p, ~0.6x with 1080p. Unknown duration counts as one hour.
    """
    minutes_of_media = (source.duration_seconds or 3600.0) / 60.0
    try:
        top = plan_renditions(source)[-1]
        pixels = top.width * top.height
    except (UnsupportedSource, ValueError):
        pixels = LADDER["1080p"].box_pixels
    factor = 0.25 if pixels <= LADDER["360p"].box_pixels else 0.4 if pixels <= LADDER["720p"].box_pixels else 0.6
    return max(1, math.ceil(3 + minutes_of_media * factor))


def check_transcodable(source: SourceInfo) -> None:
    """Raise UnsupportedSource when the Transcoder API would reject the input (size and duration limits)."""
    _validate_source(source)
    if max(source.stored_width, source.stored_height) > MAX_INPUT_SIDE:  # the coded size, before pixel aspect
        raise UnsupportedSource(
            f"video is {source.width}x{source.height}; the transcoder accepts at most {MAX_INPUT_SIDE} px a side"
        )
    if source.duration_seconds is not None and source.duration_seconds < MIN_INPUT_SECONDS:
        raise UnsupportedSource(
            f"video is {source.duration_seconds:.1f} s long; the transcoder needs at least {MIN_INPUT_SECONDS:g} s"
        )
