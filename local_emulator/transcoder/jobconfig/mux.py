"""JobConfig.muxStreams[]: which elementary streams go into which container, file name and segment settings."""

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
from .elementary import gop_seconds


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
            kinds.append("video" if "videoStream" in streams[name] else "audio")
        if kinds.count("video") > 1 or kinds.count("audio") > 1:
            raise invalid(f"{field}.elementaryStreams: a mux stream holds at most one video and one audio stream")
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
                gop = gop_seconds(video["h264"])
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
        if mux.get("encryptionId"):
            raise unimplemented(f"{field}.encryptionId")
        out.append(entry)
    return out

