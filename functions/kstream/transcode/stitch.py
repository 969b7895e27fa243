"""One presentation from premiere parts: the HLS media playlists and the DASH MPD of the whole video, built from
the playlists and MPDs each part's Transcoder job wrote under ``part-NN/`` (decision 0015).

    kept_segments(playlist, preroll)            -> PartPlaylist   the part's EXT-X-MAP and the segments played
    stitch_media_playlist([(prefix, PartPlaylist)], complete=) -> str
    stitch_mpd([(prefix, mpd text, PartTiming)])    -> str

HLS (RFC 8216): per rendition one media playlist; each part's segments in order, each part after the first opened
by ``EXT-X-DISCONTINUITY`` (its timestamps restart: a Transcoder job's output starts at zero) and its own
``EXT-X-MAP``. Until every part is done the playlist is ``EXT-X-PLAYLIST-TYPE:EVENT`` without ``EXT-X-ENDLIST``
(players reload it and play on as parts arrive); then ``VOD`` with ``EXT-X-ENDLIST``. URIs stay relative to the
video's folder (``part-02/video-720p0000000003.m4s``): the stream function makes them absolute and signed.

DASH (ISO/IEC 23009-1): one Period per part (``start`` = the part's place in the video, ``duration`` = its kept
length), each AdaptationSet's SegmentTemplate moved under the part's folder, its first ``preroll`` seconds of
segments dropped from the SegmentTimeline (or ``startNumber`` moved on) and ``presentationTimeOffset`` set to
the preroll, so Period time 0 is the part's boundary. A video still being transcoded gets a static MPD of the
parts done so far (a player that opens it again sees more).

A segment is left out (the preroll) when it ends no later than ``preroll`` + ``PREROLL_SLACK`` of the part's
timeline: audio segments are whole AAC frames (2.005 s for 2 s segments at 48 kHz), so the first audio segment
ends a few milliseconds past the video's.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["PREROLL_SLACK", "PartPlaylist", "PartTiming", "StitchError", "kept_segments", "stitch_media_playlist",
           "stitch_mpd"]

PREROLL_SLACK = 0.1  # seconds
DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
_MAP = re.compile(r'^#EXT-X-MAP:.*URI="([^"]+)"')


class StitchError(ValueError):
    """A part's playlist or MPD is not what a Transcoder job writes."""


@dataclass(frozen=True)
class PartPlaylist:
    init: str | None
    segments: list[tuple[float, str]] = field(default_factory=list)  # (EXTINF seconds, URI), kept ones only
    skipped: float = 0.0  # seconds of the part's timeline left out before them

    @property
    def duration(self) -> float:
        return sum(d for d, _ in self.segments)


def kept_segments(text: str, preroll: float) -> PartPlaylist:
    """The init segment and the segments of a part's media playlist that are played (those after the preroll)."""
    lines = [line.strip() for line in text.removeprefix("\ufeff").splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise StitchError("not an HLS playlist")
    init: str | None = None
    segments: list[tuple[float, str]] = []
    pending: float | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-MAP:"):
            found = _MAP.match(line)
            if not found:
                raise StitchError(f"EXT-X-MAP without URI: {line[:120]}")
            if init is not None and found.group(1) != init:
                raise StitchError("a part's playlist changes its EXT-X-MAP")
            init = found.group(1)
        elif line.startswith("#EXTINF:"):
            try:
                pending = float(line[len("#EXTINF:"):].split(",", 1)[0])
            except ValueError:
                raise StitchError(f"bad EXTINF: {line[:120]}") from None
        elif line.startswith("#EXT-X-BYTERANGE") or line.startswith("#EXT-X-DISCONTINUITY"):
            raise StitchError(f"{line.split(':')[0]} in a part's playlist is not supported")
        elif not line.startswith("#"):
            if pending is None:
                raise StitchError(f"segment {line[:120]} without EXTINF")
            segments.append((pending, line))
            pending = None
    skipped, at = 0.0, 0.0
    kept: list[tuple[float, str]] = []
    for duration, uri in segments:
        if not kept and preroll > 0 and at + duration <= preroll + PREROLL_SLACK:
            at += duration
            skipped = at
            continue
        kept.append((duration, uri))
        at += duration
    return PartPlaylist(init, kept, skipped)


def stitch_media_playlist(parts: Sequence[tuple[str, PartPlaylist]], *, complete: bool) -> str:
    """One media playlist of the parts ``[(prefix, PartPlaylist)]`` in order (see the module docstring)."""
    if not parts:
        raise StitchError("no part to stitch")
    target = max((math.ceil(d - 1e-6) for _, p in parts for d, _ in p.segments), default=1)
    out = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{max(1, target)}", "#EXT-X-MEDIA-SEQUENCE:0",
           "#EXT-X-DISCONTINUITY-SEQUENCE:0", f"#EXT-X-PLAYLIST-TYPE:{'VOD' if complete else 'EVENT'}",
           "#EXT-X-INDEPENDENT-SEGMENTS"]
    for n, (prefix, part) in enumerate(parts):
        if n:
            out.append("#EXT-X-DISCONTINUITY")
        if part.init:
            out.append(f'#EXT-X-MAP:URI="{prefix}{part.init}"')
        for duration, uri in part.segments:
            out.append(f"#EXTINF:{duration:.6f},")
            out.append(prefix + uri)
    if complete:
        out.append("#EXT-X-ENDLIST")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------------- DASH


@dataclass(frozen=True)
class PartTiming:
    start: float  # the part's place in the video (seconds)
    duration: float  # its kept length
    preroll: float


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _iso(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _parse(text: str) -> ET.Element:
    if "<!DOCTYPE" in text[:4096] or "<!ENTITY" in text:
        raise StitchError("MPD declares a DOCTYPE or entities")
    try:
        root = ET.fromstring(text)  # noqa: S314 (our own bucket's Transcoder output; no DTD, checked above)
    except ET.ParseError as exc:
        raise StitchError(f"not an MPD: {exc}") from None
    if _local(root.tag) != "MPD":
        raise StitchError("not an MPD")
    return root


def _trim_template(template: ET.Element, prefix: str, preroll: float) -> None:
    for name in ("media", "initialization", "index"):
        value = template.get(name)
        if value and "://" not in value and not value.startswith("/"):
            template.set(name, prefix + value)
    timescale = int(template.get("timescale") or 1)
    start_number = int(template.get("startNumber") or 1)
    offset = round(preroll * timescale)
    timeline = next((c for c in template if _local(c.tag) == "SegmentTimeline"), None)
    if timeline is not None:
        entries: list[tuple[int, int]] = []
        t = 0
        for s in list(timeline):
            t = int(s.get("t", t))
            d = int(s.get("d") or 0)
            for _ in range(int(s.get("r") or 0) + 1):
                entries.append((t, d))
                t += d
        skip = 0
        while skip < len(entries) - 1 and preroll > 0 and \
                entries[skip][0] + entries[skip][1] <= offset + PREROLL_SLACK * timescale:
            skip += 1
        for s in list(timeline):
            timeline.remove(s)
        ns = template.tag[: -len("SegmentTemplate")]
        for n, (t, d) in enumerate(entries[skip:]):
            attrs = {"t": str(t), "d": str(d)} if n == 0 else {"d": str(d)}
            ET.SubElement(timeline, f"{ns}S", attrs)
        template.set("startNumber", str(start_number + skip))
    elif template.get("duration"):
        duration = int(template.get("duration") or 1)
        skip = int((offset + PREROLL_SLACK * timescale) // duration) if preroll > 0 else 0
        template.set("startNumber", str(start_number + skip))
    if preroll > 0:
        template.set("presentationTimeOffset", str(offset))


def stitch_mpd(parts: Sequence[tuple[str, str, PartTiming]]) -> str:
    """One static MPD with a Period per part ``[(prefix, part MPD text, PartTiming)]`` (module docstring)."""
    if not parts:
        raise StitchError("no part to stitch")
    first = _parse(parts[0][1])
    ns = first.tag[: -len("MPD")]
    root = ET.Element(first.tag, {k: v for k, v in first.attrib.items()})
    root.set("type", "static")
    total = parts[-1][2].start + parts[-1][2].duration
    root.set("mediaPresentationDuration", _iso(total))
    for n, (prefix, text, timing) in enumerate(parts):
        mpd = _parse(text)
        period_in = next((c for c in mpd if _local(c.tag) == "Period"), None)
        if period_in is None:
            raise StitchError(f"part {n}: the MPD has no Period")
        period = ET.SubElement(root, f"{ns}Period", {"id": f"part-{n:02d}", "start": _iso(timing.start),
                                                     "duration": _iso(timing.duration)})
        for child in period_in:
            if _local(child.tag) != "AdaptationSet":
                continue
            period.append(child)
            for template in child.iter(f"{ns}SegmentTemplate"):
                _trim_template(template, prefix, timing.preroll)
            # Shaka and dash.js join Periods whose AdaptationSets share an id (and codecs): one track across parts
    ET.register_namespace("", DASH_NS)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
