"""ffprobe of the downloaded input: what the planner needs to know about the source."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction


class ProbeError(Exception):
    """The input cannot be read as media; ``args[0]`` carries ffprobe's reason."""


@dataclass(frozen=True)
class SourceInfo:
    duration: float  # seconds
    has_video: bool
    width: int = 0  # coded size (before rotation)
    height: int = 0
    rotation: int = 0  # degrees, display matrix
    frame_rate: Fraction = Fraction(0)
    has_audio: bool = False
    audio_channels: int = 0
    audio_sample_rate: int = 0
    sample_aspect: Fraction = Fraction(1)  # pixel aspect (SAR): 4:3 for 1440x1080 shown 16:9
    audio_tracks: dict[int, int] = field(default_factory=dict)
    """Channel count of each audio track by its index among all the file's tracks (what the v1 reference's
    ``AudioMapping.inputTrack`` names: "the zero-based index of the track in the input file"; Google's own examples
    map ``inputTrack: 1`` for the audio of a file whose track 0 is video)."""
    bit_depth: int = 8
    interlaced: bool = False  # field_order says the stream is coded interlaced
    # the video stream's colour tags as ffprobe names them ("" when untagged): hdr.py converts from what they say
    color_transfer: str = ""  # bt709, arib-std-b67 (HLG), smpte2084 (PQ), ...
    color_primaries: str = ""  # bt709, bt2020, ...
    color_space: str = ""  # the matrix: bt709, bt2020nc, ...
    color_range: str = ""  # tv (limited) or pc (full)

    @property
    def display_width(self) -> int:
        """The coded width stretched by the sample aspect (the width the picture is shown at, before rotation)."""
        return max(2, round(self.width * self.sample_aspect))

    @property
    def display_size(self) -> tuple[int, int]:
        if self.rotation % 180:
            return self.height, self.display_width
        return self.display_width, self.height


def _rate(text: str | None) -> Fraction:
    try:
        value = Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return Fraction(0)
    return value if 0 < value < 1000 else Fraction(0)


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(float(side["rotation"])) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return int(float(tag)) % 360 if tag else 0


def probe(path: str, timeout: float = 60.0) -> SourceInfo:
    cmd = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeError("ffprobe timed out reading the input") from None
    if proc.returncode != 0:
        reason = " ".join(proc.stderr.strip().splitlines()[-3:]) or f"ffprobe exited with {proc.returncode}"
        raise ProbeError(reason)
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise ProbeError("the input has no video or audio stream")
    duration = 0.0
    for candidate in ((data.get("format") or {}).get("duration"), (video or {}).get("duration"),
                      (audio or {}).get("duration")):
        try:
            duration = float(candidate)
            if duration > 0:
                break
        except (TypeError, ValueError):
            continue
    if duration <= 0:
        raise ProbeError("the input duration cannot be determined")
    info = {"duration": duration, "has_video": video is not None}
    if video is not None:
        rate = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
        info.update(width=int(video.get("width") or 0), height=int(video.get("height") or 0),
                    rotation=_rotation(video), frame_rate=rate)
        if not info["width"] or not info["height"]:
            raise ProbeError("the input video stream has no dimensions")
        info.update(sample_aspect=_sar(video.get("sample_aspect_ratio")), bit_depth=_bit_depth(video),
                    interlaced=(video.get("field_order") or "progressive") not in ("progressive", "unknown"),
                    **{name: _tag(video.get(name)) for name in ("color_transfer", "color_primaries", "color_space",
                                                                "color_range")})
    if audio is not None:
        info.update(has_audio=True, audio_channels=int(audio.get("channels") or 0),
                    audio_sample_rate=int(audio.get("sample_rate") or 0))
        info["audio_tracks"] = {int(s.get("index", n)): int(s.get("channels") or 0)
                                for n, s in enumerate(streams) if s.get("codec_type") == "audio"}
    return SourceInfo(**info)


def _sar(text: str | None) -> Fraction:
    try:
        value = Fraction((text or "1:1").replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        return Fraction(1)
    return value if Fraction(1, 4) <= value <= 4 else Fraction(1)


def _tag(value) -> str:
    return "" if value in (None, "unknown", "unspecified", "reserved") else str(value)


def _bit_depth(stream: dict) -> int:
    try:
        return int(stream.get("bits_per_raw_sample") or 0) or (10 if "10" in (stream.get("pix_fmt") or "") else 8)
    except ValueError:
        return 8
