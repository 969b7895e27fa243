"""Premiere parts: a long source cut into time ranges, each one Transcoder job with the same encoding settings.

    plan_parts(duration, segment_seconds=, threshold_seconds=, part_seconds=, max_parts=) -> [Part]   ([] = one job)
    part_config(config, part, output_uri=)   -> the whole-video JobConfig of ladder.build_job_config, for one part

A source longer than ``threshold_seconds`` gets K = ceil(duration / part_seconds) parts (at most ``max_parts``,
at least 2), the first half as long as the others (FIRST_PART_SHARE: it makes the video playable soonest).
Boundaries are whole multiples of the segment length (itself a multiple of the GOP, ladder.gop_seconds_for), so
every part starts on a keyframe of every rung at a segment boundary of the whole video.

Seams (docs/decisions/0015-premiere-parts.md): a part after the first starts encoding ``preroll`` seconds (one
segment) BEFORE its boundary -- the edit atom is ``[start - preroll, end)`` -- and the stitched playlists leave
that first segment out. The encoder's start-up (AAC priming, the first audio frame's missing overlap, the rate
control's first GOP) falls in the segment nobody plays; the kept audio overlaps the previous part's tail by less
than one AAC frame of identical content. The last part has no ``endTimeOffset`` (to the end of the source).

Each part writes under ``part-NN/`` of the video's folder. Only the first part makes the sprite sheets (poster
inside it); no part makes ``progressive.mp4`` (one progressive file cannot be stitched from parts: a parted video
has HLS and DASH only).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import ladder

__all__ = ["PART_LABEL", "Part", "part_config", "plan_parts"]

PART_LABEL = "kstream_part"  # Transcoder job label: the part's index
FIRST_PART_SHARE = 0.5
"""The first part is this fraction of the others' length: all parts start at once and take time in proportion to
their length, so the opening is done (and the video playable) in about half the time of the rest."""


@dataclass(frozen=True)
class Part:
    index: int
    start: float  # seconds of the source where the part's kept media begins (a segment boundary)
    end: float | None  # where it stops (None: the end of the source)
    preroll: float  # seconds encoded before ``start`` and left out of the playlists

    @property
    def encode_start(self) -> float:
        return self.start - self.preroll

    @property
    def prefix(self) -> str:
        return f"part-{self.index:02d}/"

    def to_doc(self) -> dict[str, Any]:
        return {"index": self.index, "start": self.start, "end": self.end, "preroll": self.preroll}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Part:
        end = doc.get("end")
        return cls(int(doc["index"]), float(doc["start"]), float(end) if end is not None else None,
                   float(doc.get("preroll") or 0.0))


def plan_parts(duration: float | None, *, segment_seconds: float, threshold_seconds: float, part_seconds: float,
               max_parts: int) -> list[Part]:
    """The parts of a source of ``duration`` seconds, or [] when it is transcoded as one job."""
    if not duration or duration <= threshold_seconds or max_parts < 2:
        return []
    ladder.gop_seconds_for(segment_seconds)  # ValueError for a segment length the ladder refuses
    count = min(max_parts, max(2, math.ceil(duration / part_seconds)))
    units = int(duration // segment_seconds)  # whole segments in the source
    first = max(1, round(units * FIRST_PART_SHARE / (count - 1 + FIRST_PART_SHARE)))
    rest = units - first
    bounds: list[float] = [first * segment_seconds]
    for i in range(1, count - 1):
        at = (first + round(rest * i / (count - 1))) * segment_seconds
        if at > bounds[-1] and at < duration - segment_seconds / 2:
            bounds.append(at)
    if bounds[0] >= duration - segment_seconds / 2:
        return []
    starts = [0.0, *bounds]
    ends: list[float | None] = [*bounds, None]
    pairs = zip(starts, ends, strict=True)
    return [Part(i, start, end, segment_seconds if i else 0.0) for i, (start, end) in enumerate(pairs)]


def _duration(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text or '0'}s"


def part_config(config: Mapping[str, Any], part: Part, *, output_uri: str) -> dict[str, Any]:
    """``config`` (the whole video's, from ladder.build_job_config) for ``part``: the edit atom trimmed to
    ``[encode_start, end)``, output under ``output_uri + part.prefix``, no progressive file, sprites in part 0
    only (the poster moved inside it). The encoding settings are left exactly as they are."""
    out = copy.deepcopy(dict(config))
    atom = out["editList"][0]
    atom["startTimeOffset"] = _duration(part.encode_start)
    if part.end is not None:
        atom["endTimeOffset"] = _duration(part.end)
    out["output"] = {"uri": output_uri.rstrip("/") + "/" + part.prefix}
    out["muxStreams"] = [m for m in out["muxStreams"] if m.get("key") != ladder.PROGRESSIVE_MUX_KEY]
    if part.index == 0 and part.end is not None:
        sheets = []
        for sheet in out.get("spriteSheets") or []:
            sheet = dict(sheet)
            if "startTimeOffset" in sheet:
                sheet["startTimeOffset"] = _duration(min(part.end * ladder.POSTER_POSITION * 2, part.end / 2))
            sheets.append(sheet)
        out["spriteSheets"] = sheets
    else:
        out.pop("spriteSheets", None)
    return out
