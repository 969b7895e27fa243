"""Cues -> one normalised WebVTT document (what we store per language and what every HLS segment is made of).

Normal form: 'WEBVTT' header, cues sorted by start (stable: equal starts keep file order), overlapping cues kept
(WebVTT shows them together), cues of zero or negative length dropped, times HH:MM:SS.mmm, no cue identifiers or
settings (hls.js de-duplicates repeated cues across segments by start, end and text when they carry no id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .model import Cue


def timestamp(seconds: float) -> str:
    """'HH:MM:SS.mmm' (hours grow past 99 if they must); negative times clamp to 0."""
    ms = max(0, round(seconds * 1000))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def normalise(cues: Iterable[Cue]) -> list[Cue]:
    """Cues sorted by start (stable), without those whose rounded length is zero or less or whose text is empty."""
    kept = [
        cue for cue in cues
        if cue.text.strip() and round(cue.end * 1000) > round(max(cue.start, 0.0) * 1000)
    ]
    return sorted(kept, key=lambda cue: cue.start)


def cue_block(cue: Cue) -> str:
    return f"{timestamp(cue.start)} --> {timestamp(cue.end)}\n{cue.text}\n"


def document(cues: Sequence[Cue], *, header_lines: Sequence[str] = ()) -> str:
    """A WebVTT file of cues already normalised; `header_lines` go right after 'WEBVTT' (e.g. X-TIMESTAMP-MAP)."""
    head = "\n".join(["WEBVTT", *header_lines]) + "\n"
    return "\n".join([head, *(cue_block(cue) for cue in cues)])


def to_webvtt(cues: Iterable[Cue]) -> str:
    """The normalised WebVTT document of `cues` (a str; store it encoded as UTF-8)."""
    return document(normalise(cues))
