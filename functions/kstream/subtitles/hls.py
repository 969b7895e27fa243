"""A subtitle track as an HLS WebVTT rendition: segments cut at the video's segment duration and their playlist.

Segment i covers [i * segment_seconds, min((i + 1) * segment_seconds, duration)); the last one is shorter. Each is
a complete WebVTT file whose header carries 'X-TIMESTAMP-MAP=MPEGTS:<mpegts>,LOCAL:00:00:00.000', so cue times
stay the episode's own times (no per-segment offset). `mpegts` must be the video's first presentation time on the
90 kHz clock as the player computes it: 0 for fMP4 starting at 0, 900000 for MPEG-TS starting at 10 s (the
Transcoder API's and Apple's segmenter's default). docs/decisions/0008-subtitles.md explains with hls.js's code.

A cue that spans a segment boundary is written whole in every segment it overlaps (RFC 8216 section 3.5: a WebVTT
segment holds every cue displayed during its EXTINF); hls.js gives a cue without identifier the id
hash(start) + hash(end) + hash(text) and adds a cue only if its track has no cue of that id, so the repeats show
once. A segment with no cue is still written (header only): the playlist must cover the whole duration.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

from .model import Cue
from .vtt_writer import document, normalise

_MAX_MPEGTS = 2**33 - 1


def segment_count(*, segment_seconds: float, duration_seconds: float) -> int:
    if segment_seconds <= 0 or duration_seconds <= 0:
        raise ValueError("segment_seconds and duration_seconds must be above zero")
    # tolerate float noise: 60.0000001 s in 6 s segments is 10 segments, not 11
    return max(1, math.ceil(round(duration_seconds / segment_seconds, 6)))


def segment_bounds(*, segment_seconds: float, duration_seconds: float) -> list[tuple[float, float]]:
    count = segment_count(segment_seconds=segment_seconds, duration_seconds=duration_seconds)
    return [(i * segment_seconds, min((i + 1) * segment_seconds, duration_seconds)) for i in range(count)]


def segment_webvtt(
    cues: Iterable[Cue], *, segment_seconds: float, duration_seconds: float, mpegts: int = 900000
) -> list[str]:
    """One WebVTT document per segment of [0, duration): each with the cues overlapping it, in start order."""
    if not 0 <= mpegts <= _MAX_MPEGTS:
        raise ValueError(f"mpegts must be within 0..2**33-1, not {mpegts}")
    ordered = normalise(cues)
    bounds = segment_bounds(segment_seconds=segment_seconds, duration_seconds=duration_seconds)
    per_segment: list[list[Cue]] = [[] for _ in bounds]
    starts = [start for start, _ in bounds]
    for cue in ordered:
        if cue.end <= 0 or cue.start >= duration_seconds:
            continue
        first = max(0, bisect.bisect_right(starts, cue.start) - 1)
        index = first
        # a cue overlaps segment [a, b) when start < b and end > a; the last segment also takes cues past the end
        while index < len(bounds) and (index == first or cue.end > bounds[index][0]):
            per_segment[index].append(cue)
            index += 1
    header = [f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000"]
    return [document(segment, header_lines=header) for segment in per_segment]


def _decimal(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") if seconds % 1 else f"{seconds:.1f}"


def hls_subtitle_playlist(segment_uris: list[str], *, segment_seconds: float, duration_seconds: float) -> str:
    """The VOD media playlist of the segments `segment_webvtt` made, one URI per segment in order."""
    bounds = segment_bounds(segment_seconds=segment_seconds, duration_seconds=duration_seconds)
    if len(segment_uris) != len(bounds):
        raise ValueError(f"{len(bounds)} segments cover {duration_seconds} s, got {len(segment_uris)} URIs")
    target = max(1, math.ceil(round(max(end - start for start, end in bounds), 6)))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    for uri, (start, end) in zip(segment_uris, bounds, strict=True):
        lines += [f"#EXTINF:{_decimal(end - start)},", uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
