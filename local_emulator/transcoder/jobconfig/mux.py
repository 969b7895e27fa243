"""JobConfig.muxStreams[]: which elementary streams go into which container, file name and segment settings.

Containers ts, fmp4 (segmented: HLS / DASH), mp4, vtt (segmented WebVTT of one webvtt text stream, for HLS
subtitle renditions), and the audio-only standalone files mp3 (one mp3 audio stream) and ogg (one vorbis audio
stream: "OGG (Vorbis only)" in the supported formats page). Which codec goes where:

    ts    h264, h265 / aac*, mp3, ac3, eac3      (MPEG-TS has no VP9 or Vorbis mapping)
    fmp4  h264, h265 (fmp4.codecTag hvc1 default | hev1), vp9 / aac*, mp3, ac3, eac3
    mp4   h264, h265 (hvc1), vp9 / aac*, mp3, ac3, eac3
    mp3   one mp3 audio stream          ogg   one vorbis audio stream
"""

from __future__ import annotations

from typing import Any

from ..errors import invalid, unimplemented
from .common import (
    CONTAINER_EXTENSIONS,
    DEFAULT_SEGMENT_DURATION,
    FILE_NAME_RE,
    IMPLEMENTED_CONTAINERS,
    SEGMENTED_CONTAINERS,
    container_extension,
    format_duration,
    is_multiple,
    keyed_entries,
    parse_duration,
)
from .elementary import gop_seconds, video_codec

# (container, codec) pairs that cannot be written; everything else in the table of the docstring can.
_VIDEO_REFUSED = {("ts", "vp9")}
_AUDIO_ONLY = {"mp3": "mp3", "ogg": "vorbis"}  # container -> the one audio codec it holds
H265_TAGS = ("hvc1", "hev1")


def stream_kind(stream: dict) -> str:
    return "video" if "videoStream" in stream else "audio" if "audioStream" in stream else "text"


def _check_text(field: str, container: str, names: list[str], kinds: list[str], streams: dict[str, dict]) -> None:
    """vtt holds exactly one webvtt text stream; cea608/708 ride inside a video stream, webvtt never does."""
    texts = [(j, n) for j, (n, k) in enumerate(zip(names, kinds, strict=True)) if k == "text"]
    if container == "vtt":
        if len(names) != 1 or not texts:
            raise invalid(f"{field}.elementaryStreams: a 'vtt' mux stream holds exactly one text elementary stream")
        codec = streams[names[0]]["textStream"]["codec"]
        if codec != "webvtt":
            raise invalid(f"{field}.elementaryStreams[0]: text stream '{names[0]}' has codec '{codec}'; a 'vtt' mux "
                          "stream needs codec 'webvtt'")
        return
    for j, name in texts:
        codec = streams[name]["textStream"]["codec"]
        if codec == "webvtt":
            raise invalid(f"{field}.elementaryStreams[{j}]: webvtt text stream '{name}' needs a mux stream of its own "
                          f"with container 'vtt' (this one is '{container}')")
        if "video" not in kinds:
            raise invalid(f"{field}.elementaryStreams[{j}]: {codec} captions are embedded in a video stream; this mux "
                          "stream has none")


def _check_codecs(field: str, container: str, names: list[str], kinds: list[str], streams: dict[str, dict]) -> None:
    """The codec/container pairs the service writes (see the module docstring)."""
    if container in _AUDIO_ONLY:
        want = _AUDIO_ONLY[container]
        if kinds != ["audio"] or streams[names[0]]["audioStream"]["codec"] != want:
            raise invalid(f"{field}.elementaryStreams: a '{container}' mux stream holds exactly one audio elementary "
                          f"stream with codec '{want}'")
        return
    for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if kind == "video":
            codec = video_codec(streams[name]["videoStream"])[0]
            if (container, codec) in _VIDEO_REFUSED:
                raise invalid(f"{field}.elementaryStreams[{j}]: {codec} video stream '{name}' cannot be muxed into "
                              f"container '{container}' (use fmp4 or mp4)")
        elif kind == "audio":
            codec = streams[name]["audioStream"]["codec"]
            if codec == "vorbis":
                raise invalid(f"{field}.elementaryStreams[{j}]: vorbis audio stream '{name}' can only be muxed into "
                              f"container 'ogg', not '{container}'")


def mux_streams(muxes: Any, streams: dict[str, dict], path: str) -> list[dict]:
    out = []
    for field, mux, key in keyed_entries(muxes, path, "muxStreams", "mux stream", "MuxStream", FILE_NAME_RE):
        container = mux.get("container") or "mp4"
        if container not in CONTAINER_EXTENSIONS:
            raise invalid(f"{field}.container: unknown container '{container}'; supported containers are "
                          + ", ".join(sorted(CONTAINER_EXTENSIONS)))
        if container not in IMPLEMENTED_CONTAINERS:
            raise unimplemented(f"{field}.container '{container}'")
        names = mux.get("elementaryStreams") or []
        if not names:
            raise invalid(f"{field}.elementaryStreams must name at least one elementary stream")
        kinds = []
        for j, name in enumerate(names):
            if name not in streams:
                raise invalid(f"{field}.elementaryStreams[{j}]: unknown elementary stream key '{name}'")
            kinds.append(stream_kind(streams[name]))
        if kinds.count("video") > 1 or kinds.count("audio") > 1:
            raise invalid(f"{field}.elementaryStreams: a mux stream holds at most one video and one audio stream")
        _check_text(field, container, names, kinds, streams)
        _check_codecs(field, container, names, kinds, streams)
        file_name = mux.get("fileName") or key + container_extension(container)
        if not FILE_NAME_RE.match(file_name):
            raise invalid(f"{field}.fileName '{file_name}' may only contain letters, digits, '.', '_' and '-'")
        entry: dict[str, Any] = {"key": key, "fileName": file_name, "container": container,
                                 "elementaryStreams": list(names)}
        if container in SEGMENTED_CONTAINERS:
            settings = mux.get("segmentSettings") or {}
            seg = parse_duration(settings.get("segmentDuration", DEFAULT_SEGMENT_DURATION),
                                 f"{field}.segmentSettings.segmentDuration")
            if seg <= 0:
                raise invalid(f"{field}.segmentSettings.segmentDuration must be greater than 0")
            for name in names:
                video = streams[name].get("videoStream")
                if not video:
                    continue
                gop = gop_seconds(video_codec(video)[1])
                if seg + 1e-9 < gop:
                    raise invalid(f"{field}.segmentSettings.segmentDuration ({format_duration(seg)}) must be greater "
                                  f"than or equal to the gopDuration ({format_duration(gop)}) of elementary stream "
                                  f"'{name}'")
                if not is_multiple(seg, gop):
                    raise invalid(f"{field}.segmentSettings.segmentDuration ({format_duration(seg)}) must be "
                                  f"divisible by the gopDuration ({format_duration(gop)}) of elementary stream "
                                  f"'{name}'")
            entry["segmentSettings"] = {"segmentDuration": format_duration(seg),
                                        "individualSegments": bool(settings.get("individualSegments", False))}
        fmp4 = mux.get("fmp4")
        if fmp4 is not None:
            if container != "fmp4":
                raise invalid(f"{field}.fmp4 is the configuration of an 'fmp4' container; this one is '{container}'")
            tag = (fmp4 or {}).get("codecTag") or "hvc1"
            if tag not in H265_TAGS:
                raise invalid(f"{field}.fmp4.codecTag must be one of {', '.join(H265_TAGS)}, got '{tag}'")
            entry["fmp4"] = {"codecTag": tag}
        if mux.get("encryptionId"):  # checked against JobConfig.encryptions in encryption.py
            if not isinstance(mux["encryptionId"], str):
                raise invalid(f"Invalid value at '{field}.encryptionId': expected a string")
            entry["encryptionId"] = mux["encryptionId"]
        out.append(entry)
    return out

