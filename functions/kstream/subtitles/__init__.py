"""Subtitle core: what uploaders send (SubRip, WebVTT, SubStation Alpha, SAMI; UTF-8/16, CP949, CP1252) -> checked
cues -> normalised WebVTT and HLS subtitle renditions. Pure: no I/O, no HTTP; every refusal is a SubtitleInvalid
(400 REQUEST_INVALID) naming the file and, for a parse error, the line.

    parse_subtitle(data, file_name=..., language=...)   bytes -> ParsedSubtitle (decoding.py, formats.py, sami.py)
    check_against_duration(parsed, duration, ...)       cues must end by the video's end + END_TOLERANCE_SECONDS
    check_language(tag) / default_label(tag)            BCP 47 tag -> canonical tag / its own name (languages.py)
    to_webvtt(cues)                                      the stored WebVTT document (vtt_writer.py)
    segment_webvtt(...) / hls_subtitle_playlist(...)     the HLS rendition (hls.py)

Libraries: pysubs2 (SubRip, SSA/ASS), webvtt-py (WebVTT), pycaption (SAMI), charset-normalizer (encodings),
langcodes + language-data (tags, autonyms); docs/decisions/0008-subtitles.md says why each.
"""

from __future__ import annotations

from .decoding import decode
from .formats import detect_format, parse_text
from .hls import hls_subtitle_playlist, segment_webvtt
from .languages import check_language, default_label
from .model import END_TOLERANCE_SECONDS, MAX_SUBTITLE_BYTES, Cue, ParsedSubtitle, SubtitleInvalid
from .vtt_writer import normalise, to_webvtt

__all__ = [
    "END_TOLERANCE_SECONDS",
    "MAX_SUBTITLE_BYTES",
    "Cue",
    "ParsedSubtitle",
    "SubtitleInvalid",
    "check_against_duration",
    "check_language",
    "default_label",
    "hls_subtitle_playlist",
    "parse_subtitle",
    "segment_webvtt",
    "to_webvtt",
]


def parse_subtitle(data: bytes, *, file_name: str, language: str | None = None) -> ParsedSubtitle:
    """Read an uploaded subtitle file: size, encoding, format (from the content), cues; for SAMI the class of
    `language` (any BCP 47 form; compared by primary subtag). Raises SubtitleInvalid for anything unusable."""
    if len(data) > MAX_SUBTITLE_BYTES:
        raise SubtitleInvalid(
            f"{file_name} is {len(data)} bytes; subtitle files may be at most {MAX_SUBTITLE_BYTES} bytes (2 MiB)",
            file_name=file_name, limit=MAX_SUBTITLE_BYTES, size=len(data),
        )
    text, encoding = decode(data, file_name=file_name)
    source_format = detect_format(text, file_name=file_name)
    cues, languages = parse_text(text, source_format, file_name=file_name, language=language)
    if not cues:
        raise SubtitleInvalid(f"{file_name} has no cue", file_name=file_name)
    if not normalise(cues):
        raise SubtitleInvalid(
            f"{file_name} has no cue that lasts ({len(cues)} cues end when or before they start)", file_name=file_name
        )
    return ParsedSubtitle(cues=tuple(cues), source_format=source_format, encoding=encoding, languages=languages)


def check_against_duration(parsed: ParsedSubtitle, duration_seconds: float, *, file_name: str) -> None:
    """Refuse cues that end more than END_TOLERANCE_SECONDS after the video's end (a file for another episode,
    or times in the wrong unit), naming the first such cue."""
    limit = duration_seconds + END_TOLERANCE_SECONDS
    late = [cue for cue in parsed.cues if cue.end > limit]
    if late:
        first = min(late, key=lambda cue: cue.start)
        raise SubtitleInvalid(
            f"{file_name}: {len(late)} cue(s) end after the video ({duration_seconds:.3f} s + "
            f"{END_TOLERANCE_SECONDS:g} s tolerance); the first starts at {first.start:.3f} s and ends at "
            f"{first.end:.3f} s",
            file_name=file_name, duration_seconds=duration_seconds, cue_end=first.end,
        )
