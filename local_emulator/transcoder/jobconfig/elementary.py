"""JobConfig.elementaryStreams[]: videoStream (h264), audioStream and textStream, validated with their defaults."""

from __future__ import annotations

from typing import Any

from ..errors import invalid, unimplemented
from .common import (
    AUDIO_CODECS,
    DEFAULT_GOP_DURATION,
    H264_PROFILES,
    IMPLEMENTED_AUDIO_CODECS,
    KNOWN_H264_PROFILES,
    X264_PRESETS,
    X264_TUNES,
    enum_name,
    format_duration,
    keyed_entries,
    parse_duration,
    positive_int,
)


def elementary_streams(streams: Any, path: str) -> list[dict]:
    out = []
    for field, stream, key in keyed_entries(streams, path, "elementaryStreams", "elementary stream",
                                             "ElementaryStream"):
        kinds = [k for k in ("videoStream", "audioStream", "textStream") if stream.get(k)]
        if len(kinds) != 1:
            raise invalid(f"{field}: exactly one of videoStream, audioStream or textStream must be set")
        if kinds[0] == "textStream":
            raise unimplemented(f"{field}.textStream")
        if kinds[0] == "videoStream":
            out.append({"key": key, "videoStream": video_stream(stream["videoStream"], f"{field}.videoStream")})
        else:
            out.append({"key": key, "audioStream": audio_stream(stream["audioStream"], f"{field}.audioStream")})
    return out


def video_stream(video: dict, field: str) -> dict:
    codecs = [c for c in ("h264", "h265", "vp9") if video.get(c) is not None]
    if len(codecs) != 1:
        raise invalid(f"{field}: exactly one of h264, h265 or vp9 codec settings must be set")
    if codecs[0] != "h264":
        raise unimplemented(f"{field}.{codecs[0]}")
    h = dict(video["h264"])
    field = f"{field}.h264"
    for dim in ("widthPixels", "heightPixels"):
        if h.get(dim):
            value = positive_int(h[dim], f"{field}.{dim}", low=2, high=8192)
            if value % 2:
                raise invalid(f"{field}.{dim} must be an even integer, got {value}")
            h[dim] = value
        else:
            h.pop(dim, None)
    if not h.get("frameRate"):
        raise invalid(f"{field}.frameRate is required")
    try:
        frame_rate = float(h["frameRate"])
    except (TypeError, ValueError):
        raise invalid(f"Invalid value at '{field}.frameRate': expected a number") from None
    if not 0 < frame_rate <= 120:
        raise invalid(f"{field}.frameRate must be greater than 0 and less than or equal to 120, got {frame_rate:g}")
    h["frameRate"] = int(frame_rate) if frame_rate.is_integer() else frame_rate
    if not h.get("bitrateBps"):
        raise invalid(f"{field}.bitrateBps is required")
    h["bitrateBps"] = positive_int(h["bitrateBps"], f"{field}.bitrateBps", low=1000, high=800_000_000)
    h.setdefault("pixelFormat", "yuv420p")
    if h["pixelFormat"] != "yuv420p":
        raise unimplemented(f"{field}.pixelFormat '{h['pixelFormat']}'")
    h.setdefault("rateControlMode", "vbr")
    if h["rateControlMode"] not in ("vbr", "crf"):
        raise invalid(f"{field}.rateControlMode must be 'vbr' or 'crf', got '{h['rateControlMode']}'")
    h["crfLevel"] = positive_int(h.get("crfLevel", 21) or 21, f"{field}.crfLevel", low=10, high=36)
    if h.get("gopDuration") is not None and h.get("gopFrameCount"):
        raise invalid(f"{field}: only one of gopDuration and gopFrameCount may be set")
    if h.get("gopFrameCount"):
        h["gopFrameCount"] = positive_int(h["gopFrameCount"], f"{field}.gopFrameCount", low=1, high=100000)
    else:
        gop = parse_duration(h.get("gopDuration", DEFAULT_GOP_DURATION), f"{field}.gopDuration")
        if gop <= 0:
            raise invalid(f"{field}.gopDuration must be greater than 0")
        h["gopDuration"] = format_duration(gop)
    h["vbvSizeBits"] = positive_int(h.get("vbvSizeBits") or h["bitrateBps"], f"{field}.vbvSizeBits", low=1)
    h["vbvFullnessBits"] = positive_int(h.get("vbvFullnessBits") or h["vbvSizeBits"] * 9 // 10,
                                         f"{field}.vbvFullnessBits", low=1)
    if h["vbvFullnessBits"] > h["vbvSizeBits"]:
        raise invalid(f"{field}.vbvFullnessBits must be less than or equal to vbvSizeBits")
    h.setdefault("entropyCoder", "cabac")
    if h["entropyCoder"] not in ("cabac", "cavlc"):
        raise invalid(f"{field}.entropyCoder must be 'cabac' or 'cavlc', got '{h['entropyCoder']}'")
    h.setdefault("profile", "high")
    if h["profile"] not in KNOWN_H264_PROFILES:
        raise invalid(f"{field}.profile: unknown H.264 profile '{h['profile']}'")
    if h["profile"] not in H264_PROFILES:
        raise unimplemented(f"{field}.profile '{h['profile']}'")
    if h["profile"] == "baseline" and h["entropyCoder"] == "cabac" and "entropyCoder" not in video["h264"]:
        h["entropyCoder"] = "cavlc"
    h.setdefault("preset", "veryfast")
    if h["preset"] not in X264_PRESETS:
        raise invalid(f"{field}.preset: unknown H.264 preset '{h['preset']}'")
    if h.get("tune") and h["tune"] not in X264_TUNES:
        raise invalid(f"{field}.tune: unknown H.264 tune '{h['tune']}'")
    if h.get("bFrameCount") is not None:
        h["bFrameCount"] = positive_int(h["bFrameCount"], f"{field}.bFrameCount", low=0, high=16)
        if h.get("gopFrameCount") and h["bFrameCount"] >= h["gopFrameCount"]:
            raise invalid(f"{field}.bFrameCount must be less than gopFrameCount")
    if h.get("aqStrength") is not None:
        aq = float(h["aqStrength"])
        if not 0 <= aq <= 1:
            raise invalid(f"{field}.aqStrength must be between 0 and 1")
        h["aqStrength"] = int(aq) if aq.is_integer() else aq
    if h.get("frameRateConversionStrategy") is not None:
        h["frameRateConversionStrategy"] = enum_name("frameRateConversionStrategy", h["frameRateConversionStrategy"],
                                                     f"{field}.frameRateConversionStrategy")
    if h.get("hlg"):
        raise unimplemented(f"{field}.hlg")
    return {"h264": h}


def audio_stream(audio: dict, field: str) -> dict:
    a = dict(audio)
    a.setdefault("codec", "aac")
    if a["codec"] not in AUDIO_CODECS:
        raise invalid(f"{field}.codec: unknown audio codec '{a['codec']}'")
    if a["codec"] not in IMPLEMENTED_AUDIO_CODECS:
        raise unimplemented(f"{field}.codec '{a['codec']}'")
    if not a.get("bitrateBps"):
        raise invalid(f"{field}.bitrateBps is required")
    a["bitrateBps"] = positive_int(a["bitrateBps"], f"{field}.bitrateBps", low=1, high=10_000_000)
    a["channelCount"] = positive_int(a.get("channelCount") or 2, f"{field}.channelCount", low=1, high=6)
    layout = a.get("channelLayout") or (["fl", "fr"] if a["channelCount"] == 2 else [])
    if layout and len(layout) != a["channelCount"]:
        raise invalid(f"{field}.channelLayout must have channelCount ({a['channelCount']}) entries")
    if layout:
        a["channelLayout"] = list(layout)
    a["sampleRateHertz"] = positive_int(a.get("sampleRateHertz") or 48000, f"{field}.sampleRateHertz",
                                         low=8000, high=96000)
    if a.get("mapping"):
        raise unimplemented(f"{field}.mapping")
    return a



def gop_seconds(h264: dict) -> float:
    if h264.get("gopFrameCount"):
        return h264["gopFrameCount"] / float(h264["frameRate"])
    return parse_duration(h264.get("gopDuration", DEFAULT_GOP_DURATION), "gopDuration")

