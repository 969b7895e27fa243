"""What every JobConfig section shares: camelCase JSON helpers, enums, google.protobuf.Duration strings, integer
ranges, keyed lists, Cloud Storage URIs and the constants of the reference."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from ..errors import ApiError, invalid

# JSON helpers: camelCase keys, enums (ints or names), google.protobuf.Duration strings
# ---------------------------------------------------------------------------------------------------------------

_MAP_FIELDS = {"labels"}  # proto map fields: their keys are user data, never renamed


def camelize(value: Any) -> Any:
    """Accept snake_case field names too (the real API does); map fields keep their keys."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key) if isinstance(key, str) else key
            out[name] = item if name in _MAP_FIELDS else camelize(item)
        return out
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


ENUMS: dict[str, list[str]] = {
    "state": ["PROCESSING_STATE_UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED"],
    "mode": ["PROCESSING_MODE_UNSPECIFIED", "PROCESSING_MODE_INTERACTIVE", "PROCESSING_MODE_BATCH"],
    "optimization": ["OPTIMIZATION_STRATEGY_UNSPECIFIED", "AUTODETECT", "DISABLED"],
    "manifestType": ["MANIFEST_TYPE_UNSPECIFIED", "HLS", "DASH"],
    "segmentReferenceScheme": ["SEGMENT_REFERENCE_SCHEME_UNSPECIFIED", "SEGMENT_LIST", "SEGMENT_TEMPLATE_NUMBER"],
    "frameRateConversionStrategy": ["FRAME_RATE_CONVERSION_STRATEGY_UNSPECIFIED", "DOWNSAMPLE", "DROP_DUPLICATE"],
}


def enum_name(kind: str, value: Any, field: str) -> str:
    names = ENUMS[kind]
    if isinstance(value, bool):
        raise invalid(f"Invalid value at '{field}': {value!r} is not a valid enum value")
    if isinstance(value, int):
        if 0 <= value < len(names):
            return names[value]
    elif isinstance(value, str):
        if value in names:
            return value
        if value.isdigit() and int(value) < len(names):
            return names[int(value)]
    raise invalid(f"Invalid value at '{field}' ({kind}): {value!r}; expected one of {', '.join(names[1:])}")


def enum_number(kind: str, name: str) -> int:
    return ENUMS[kind].index(name)


_DURATION_RE = re.compile(r"^(-?\d+(?:\.\d{0,9})?)s$")


def parse_duration(value: Any, field: str) -> float:
    """google.protobuf.Duration in its JSON form ("6s", "3.5s"); plain numbers and {seconds, nanos} accepted too."""
    if isinstance(value, bool):
        raise invalid(f"Invalid value at '{field}': expected a duration such as \"6s\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, dict):
        seconds = float(value.get("seconds", 0) or 0) + float(value.get("nanos", 0) or 0) / 1e9
    elif isinstance(value, str) and _DURATION_RE.match(value.strip()):
        seconds = float(value.strip()[:-1])
    else:
        raise invalid(f"Invalid value at '{field}': {value!r} is not a duration such as \"6s\"")
    if not math.isfinite(seconds):
        raise invalid(f"Invalid value at '{field}': duration must be finite")
    return seconds


def format_duration(seconds: float) -> str:
    """The proto JSON spelling: "6s", "3.500s"."""
    if abs(seconds - round(seconds)) < 1e-9:
        return f"{round(seconds)}s"
    text = f"{seconds:.9f}".rstrip("0")
    decimals = len(text.split(".")[1])
    return f"{seconds:.{3 if decimals <= 3 else 6 if decimals <= 6 else 9}f}s"


def is_multiple(total: float, step: float) -> bool:
    """Exact-enough divisibility of two durations (both parsed from decimal strings)."""
    if step <= 0:
        return False
    ratio = Fraction(str(round(total, 9))) / Fraction(str(round(step, 9)))
    return ratio.denominator == 1


# ---------------------------------------------------------------------------------------------------------------
# Constants from the JobConfig reference
# ---------------------------------------------------------------------------------------------------------------

GCS_OBJECT_RE = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])/(.+)$")
GCS_DIR_RE = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])/(.*)$")
TOPIC_RE = re.compile(r"^projects/[^/]+/topics/[^/]+$")
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
TEMPLATE_ID_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{3,62}$")

CONTAINER_EXTENSIONS = {"ts": ".ts", "fmp4": ".m4s", "mp4": ".mp4", "mp3": ".mp3", "ogg": ".ogg", "vtt": ".vtt"}
IMPLEMENTED_CONTAINERS = {"ts", "fmp4", "mp4", "mp3", "ogg", "vtt"}
SEGMENTED_CONTAINERS = {"ts", "fmp4", "vtt"}
# H264/H265/Vp9CodecSettings.pixelFormat as the reference lists them; libx264 encodes 8 and 10 bit only, libx265
# and libvpx-vp9 (Debian's builds) all nine.
PIXEL_FORMATS = ("yuv420p", "yuv422p", "yuv444p", "yuv420p10", "yuv422p10", "yuv444p10", "yuv420p12", "yuv422p12",
                 "yuv444p12")
IMPLEMENTED_PIXEL_FORMATS = PIXEL_FORMATS[:6]  # h264: x264 encodes 8 and 10 bit only (docs/local-transcoder.md)
H265_PROFILES = ("main", "main-intra", "mainstillpicture", "main444-8", "main444-intra", "main444-stillpicture",
                 "main10", "main10-intra", "main422-10", "main422-10-intra", "main444-10", "main444-10-intra",
                 "main12", "main12-intra", "main422-12", "main422-12-intra", "main444-12", "main444-12-intra")
VP9_PROFILES = ("profile0", "profile1", "profile2", "profile3")
X265_TUNES = {"psnr", "ssim", "grain", "zerolatency", "fastdecode", "animation"}
CHANNEL_NAMES = ("fl", "fr", "sl", "sr", "fc", "lfe")  # AudioStream.channelLayout
TEXT_CODECS = ("webvtt", "srt", "ttml", "cea608", "cea708")  # TextStream.codec
EMBEDDED_TEXT_CODECS = ("cea608", "cea708")
# The caption formats the service writes ("Supported input and output formats": output captions CEA-608/708 and
# WebVTT; SRT and TTML are listed for TextStream.codec but only read, as input caption files).
OUTPUT_TEXT_CODECS = ("webvtt", "cea608", "cea708")
LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
H264_PROFILES = {"baseline", "main", "high"}
KNOWN_H264_PROFILES = H264_PROFILES | {"high10", "high422", "high444"}
X264_PRESETS = {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo"}
X264_TUNES = {"film", "animation", "grain", "stillimage", "fastdecode", "zerolatency", "psnr", "ssim"}
AUDIO_CODECS = {"aac", "aac-he", "aac-he-v2", "mp3", "ac3", "eac3", "vorbis"}
IMPLEMENTED_AUDIO_CODECS = AUDIO_CODECS
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # MPEG-1/2/2.5 layer III
DEFAULT_SEGMENT_DURATION = "6s"
DEFAULT_GOP_DURATION = "3s"


def container_extension(container: str) -> str:
    return CONTAINER_EXTENSIONS[container]


def positive_int(value: Any, field: str, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid(f"Invalid value at '{field}': expected an integer")
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"Invalid value at '{field}': expected an integer") from None
    if number != float(value):
        raise invalid(f"Invalid value at '{field}': expected an integer")
    if (low is not None and number < low) or (high is not None and number > high):
        raise invalid(f"{field} must be between {low} and {high}, got {number}")
    return number


def keyed_entries(items: Any, path: str, list_name: str, kind: str, object_name: str,
                   key_pattern: re.Pattern[str] | None = None) -> Iterator[tuple[str, dict, str]]:
    """(field, entry, key) of each entry of a non-empty list of objects with unique, required keys."""
    if not items:
        raise invalid(f"{path}.{list_name} must contain at least one {kind}")
    if not isinstance(items, list):
        raise invalid(f"{path}.{list_name} must be a list")
    seen: set[str] = set()
    for i, entry in enumerate(items):
        field = f"{path}.{list_name}[{i}]"
        if not isinstance(entry, dict):
            raise invalid(f"{field} must be a{'n' if object_name[0] in 'AEIOU' else ''} {object_name} object")
        key = entry.get("key") or ""
        if not key:
            raise invalid(f"{field}.key is required")
        if key_pattern is not None and not key_pattern.match(key):
            raise invalid(f"{field}.key '{key}' may only contain letters, digits, '.', '_' and '-'")
        if key in seen:
            raise invalid(f"{field}.key: duplicate {kind} key '{key}'")
        seen.add(key)
        yield field, entry, key



def is_valid_gcs_object(uri: str) -> tuple[str, str] | None:
    match = GCS_OBJECT_RE.match(uri or "")
    return (match.group(1), match.group(2)) if match else None


def split_gcs_dir(uri: str) -> tuple[str, str]:
    match = GCS_DIR_RE.match(uri)
    if not match:
        raise ApiError("INVALID_ARGUMENT", f"'{uri}' is not a Cloud Storage URI")
    return match.group(1), match.group(2)


def number_in_range(value: Any, field: str, low: float, high: float) -> float:
    """A JSON number (or numeric string) within [low, high], else INVALID_ARGUMENT naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid(f"Invalid value at '{field}': expected a number")
    try:
        number = float(value)
    except ValueError:
        raise invalid(f"Invalid value at '{field}': expected a number") from None
    if not low <= number <= high:
        raise invalid(f"{field} must be between {low:g} and {high:g}, got {number:g}")
    return number
