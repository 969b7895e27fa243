"""Text of a subtitle file -> cues, per format, with the line of the first error.

Which library reads what (docs/decisions/0008-subtitles.md says why):
- SubRip (.srt), SubStation Alpha (.ass/.ssa): pysubs2; its override tags are reduced with `pysubs2`'s own
  `parse_tags` (italic/bold/underline kept, drawings dropped);
- WebVTT (.vtt): webvtt-py (pysubs2 reads WebVTT as SubRip: it misses MM:SS.mmm times and keeps '&amp;');
- SAMI (.smi): pycaption, in `sami.py`.
pysubs2 and webvtt-py skip a cue whose timing line they cannot read, so `_check_timing_lines` reads those lines
first and names the first bad one.

The format comes from the content; the file extension only decides between "not a subtitle file" messages.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable

import pysubs2
import webvtt

from . import cue_text
from .model import Cue, SubtitleInvalid

_EXTENSIONS = {".srt": "srt", ".vtt": "vtt", ".webvtt": "vtt", ".ass": "ass", ".ssa": "ssa", ".smi": "smi",
               ".sami": "smi"}
_NAMES = {"srt": "SubRip", "vtt": "WebVTT", "ass": "Advanced SubStation Alpha", "ssa": "SubStation Alpha",
          "smi": "SAMI"}

_SRT_TIME = r"(\d{1,2}):([0-5]?\d):([0-5]?\d)[,.](\d{1,3})"
_SRT_TIMING = re.compile(rf"^\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}(?:\s+.*)?\s*$")
_VTT_TIME = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t].*)?$")
_LOOKS_TIMED = re.compile(r"^\s*\d+:\d+(?::\d+)?[,.]\d+")
_ASS_TIME = re.compile(r"^\s*\d{1,2}:\d{1,2}:\d{1,2}[.:]\d{1,3}\s*$")
_SAMI_START = re.compile(r"<sami[\s>]", re.IGNORECASE)


def extension_format(file_name: str) -> str | None:
    lower = file_name.lower()
    return next((fmt for ext, fmt in _EXTENSIONS.items() if lower.endswith(ext)), None)


def detect_format(text: str, *, file_name: str) -> str:
    """'srt' | 'vtt' | 'ass' | 'ssa' | 'smi' from the content; SubtitleInvalid if it is none of them."""
    head = text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if re.search(r"^\s*\[(Script Info|V4\+? Styles|Events)\]", text, re.MULTILINE | re.IGNORECASE):
        if re.search(r"^\s*\[V4\+ Styles\]|^\s*ScriptType:\s*v4\.00\+", text, re.MULTILINE | re.IGNORECASE):
            return "ass"
        return "ssa"
    if _SAMI_START.search(text[:65536]):
        return "smi"
    if any("-->" in line for line in text.splitlines()):
        return "srt"
    if head[:1] in "{[":
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            raise SubtitleInvalid(f"{file_name} is a JSON document, not a subtitle file", file_name=file_name)
    expected = "SubRip, WebVTT, SubStation Alpha or SAMI"
    by_extension = extension_format(file_name)
    if by_extension:
        raise SubtitleInvalid(
            f"{file_name} is not a {_NAMES[by_extension]} file: no cue timing found", file_name=file_name
        )
    raise SubtitleInvalid(f"{file_name} is not a subtitle file (expected {expected})", file_name=file_name)


def _check_timing_lines(text: str, pattern: re.Pattern[str], example: str, *, file_name: str) -> int:
    """Count the timing lines; the first line holding '-->' or starting like a time but not a valid timing line
    raises SubtitleInvalid naming it."""
    count = 0
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            count += 1
        elif "-->" in line or _LOOKS_TIMED.match(line):
            raise SubtitleInvalid(
                f"{file_name} line {number}: malformed cue timing {line.strip()[:60]!r} (expected {example})",
                file_name=file_name,
                line=number,
            )
    return count


_OVERRIDE_BLOCK = re.compile(r"{([^}]*)}")
_OVERRIDE_TAG = re.compile(r"\\(?:([ibup])(\d+)|r([^\\}]*))")


def _spans_from_ssa(text: str, style: pysubs2.SSAStyle, styles: dict[str, pysubs2.SSAStyle]) -> list[cue_text.Span]:
    """Spans of an SSA/ASS event text (SubRip's tags arrive as pysubs2 turned them: {\\i1}...{\\i0}).

    The same reading as pysubs2's `parse_tags` for the tags WebVTT can carry (\\b, \\i, \\u, \\r, and \\p for
    drawings, which are dropped), without copying an SSAStyle per fragment: that copy was 40 % of the parse time.
    """
    text = text.replace(r"\h", "\u00a0").replace(r"\N", "\n").replace(r"\n", "\n")
    base = (bool(style.bold), bool(style.italic), bool(style.underline), False)
    if "{" not in text:
        return [cue_text.Span(text, *base[:3])]
    bold, italic, underline, drawing = base
    spans: list[cue_text.Span] = []
    parts = _OVERRIDE_BLOCK.split(text)
    for index, part in enumerate(parts):
        if index % 2 == 0:
            if part and not drawing:
                spans.append(cue_text.Span(part, bold, italic, underline))
            continue
        for tag, value, reset in _OVERRIDE_TAG.findall(part):
            if not tag:
                named = styles.get(reset.strip()) if reset.strip() else style
                named = named or style
                bold, italic, underline = bool(named.bold), bool(named.italic), bool(named.underline)
            elif tag == "p":
                drawing = int(value) > 0
            else:
                on = value != "0"  # \\b700 is bold too
                bold, italic, underline = (on if tag == "b" else bold, on if tag == "i" else italic,
                                           on if tag == "u" else underline)
    return spans


def _cues_from_pysubs2(subs: pysubs2.SSAFile) -> list[Cue]:
    cues = []
    for event in subs.events:
        if event.is_comment:
            continue
        style = subs.styles.get(event.style, pysubs2.SSAStyle.DEFAULT_STYLE)
        payload = cue_text.render(_spans_from_ssa(event.text, style, subs.styles))
        if payload:
            cues.append(Cue(event.start / 1000, event.end / 1000, payload))
    return cues


def parse_srt(text: str, *, file_name: str) -> list[Cue]:
    expected = _check_timing_lines(text, _SRT_TIMING, "'00:00:01,000 --> 00:00:03,500'", file_name=file_name)
    subs = pysubs2.SSAFile.from_string(text, format_="srt")
    if len(subs.events) != expected:  # pysubs2 found a different number of timing lines: do not guess which
        raise SubtitleInvalid(f"{file_name}: could not read every cue of the SubRip file", file_name=file_name)
    return _cues_from_pysubs2(subs)


def _check_ass_events(text: str, *, file_name: str) -> None:
    """Each Dialogue line's Start and End (positions from the [Events] Format line) must be H:MM:SS.cc."""
    fields: list[str] = []
    in_events = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_events = stripped.lower() == "[events]"
            continue
        if not in_events or ":" not in stripped:
            continue
        kind, _, rest = stripped.partition(":")
        if kind.lower() == "format":
            fields = [f.strip().lower() for f in rest.split(",")]
        elif kind.lower() == "dialogue" and fields:
            values = rest.split(",", len(fields) - 1)
            for name in ("start", "end"):
                index = fields.index(name) if name in fields else -1
                if index < 0 or index >= len(values) or not _ASS_TIME.match(values[index]):
                    bad = values[index].strip() if 0 <= index < len(values) else ""
                    raise SubtitleInvalid(
                        f"{file_name} line {number}: malformed {name} time {bad!r} (expected H:MM:SS.cc)",
                        file_name=file_name,
                        line=number,
                    )


def parse_ass(text: str, *, file_name: str) -> list[Cue]:
    _check_ass_events(text, file_name=file_name)
    try:
        subs = pysubs2.SSAFile.from_string(text)
    except (pysubs2.exceptions.Pysubs2Error, ValueError, KeyError, IndexError) as exc:
        raise SubtitleInvalid(f"{file_name} is not a valid SubStation Alpha file: {exc}", file_name=file_name) from exc
    return _cues_from_pysubs2(subs)


def parse_vtt(text: str, *, file_name: str) -> list[Cue]:
    expected = _check_timing_lines(text, _VTT_TIMING, "'00:00:01.000 --> 00:00:03.500'", file_name=file_name)
    try:
        document = webvtt.WebVTT.from_string(text, strict=True)
    except (webvtt.errors.MalformedFileError, webvtt.errors.MalformedCaptionError) as exc:
        raise SubtitleInvalid(f"{file_name} is not a valid WebVTT file: {exc}", file_name=file_name) from exc
    if len(document.captions) != expected:
        raise SubtitleInvalid(f"{file_name}: could not read every cue of the WebVTT file", file_name=file_name)
    cues = []
    for caption in document.captions:
        payload = cue_text.render(cue_text.spans_from_webvtt(caption.raw_text))
        if payload:
            cues.append(
                Cue(caption.start_time.in_milliseconds() / 1000, caption.end_time.in_milliseconds() / 1000, payload)
            )
    return cues


def parse_text(
    text: str, source_format: str, *, file_name: str, language: str | None
) -> tuple[list[Cue], tuple[str, ...]]:
    """(cues, languages declared in the file) for text already known to be `source_format`."""
    readers: dict[str, Callable[..., list[Cue]]] = {
        "srt": parse_srt, "vtt": parse_vtt, "ass": parse_ass, "ssa": parse_ass,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if source_format == "smi":
            from . import sami  # pycaption (with lxml, bs4, cssutils) costs ~0.3 s to import: only for SAMI files

            return sami.parse_sami(text, file_name=file_name, language=language)
        return readers[source_format](text, file_name=file_name), ()
