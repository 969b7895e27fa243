"""Cue text reduced to what WebVTT carries for us: plain text with <b>, <i>, <u> and line breaks, escaped.

Every reader turns its own markup (SubRip/ASS override tags via pysubs2, WebVTT spans, SAMI nodes via pycaption)
into `Span`s; `render` makes the payload: each line trimmed, empty lines dropped (a blank line would end a WebVTT
cue), '&', '<' and '>' escaped (so '-->' cannot appear), tags opened and closed within each line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

_TAG_ORDER = (("bold", "b"), ("italic", "i"), ("underline", "u"))


@dataclass(frozen=True)
class Span:
    """A run of text with one styling; '\n' inside `text` breaks the line."""

    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False

    @property
    def style(self) -> tuple[bool, bool, bool]:
        return (self.bold, self.italic, self.underline)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _lines(spans: Iterable[Span]) -> list[list[Span]]:
    lines: list[list[Span]] = [[]]
    for span in spans:
        parts = span.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for i, part in enumerate(parts):
            if i:
                lines.append([])
            if part:
                lines[-1].append(Span(part, span.bold, span.italic, span.underline))
    return lines


def _render_line(line: list[Span]) -> str:
    if len(line) == 1:  # the common case: one style for the whole line
        span = line[0]
        text = span.text.strip()
        if not text:
            return ""
        tags = [tag for attr, tag in _TAG_ORDER if getattr(span, attr)]
        return "".join(f"<{t}>" for t in tags) + escape(text) + "".join(f"</{t}>" for t in reversed(tags))
    # trim the line as a whole (first span's start, last span's end), then merge neighbours of equal style
    while line and not line[0].text.strip():
        line = line[1:]
    while line and not line[-1].text.strip():
        line = line[:-1]
    if not line:
        return ""
    texts = [span.text for span in line]
    texts[0] = texts[0].lstrip()
    texts[-1] = texts[-1].rstrip()
    line = [Span(text, *span.style) for text, span in zip(texts, line, strict=True)]
    merged: list[Span] = []
    for span in line:
        if merged and merged[-1].style == span.style:
            merged[-1] = Span(merged[-1].text + span.text, *span.style)
        else:
            merged.append(span)
    out: list[str] = []
    stack: list[str] = []  # open tags, outermost first
    styled = [[tag for attr, tag in _TAG_ORDER if getattr(span, attr)] for span in merged]
    for index, span in enumerate(merged):
        wanted = styled[index]
        if not span.text.strip():  # blank between styled runs: keep only what the next run also has
            following = next((styled[j] for j in range(index + 1, len(merged)) if merged[j].text.strip()), [])
            wanted = [tag for tag in stack if tag in following]
        keep = next((i for i, tag in enumerate(stack) if tag not in wanted), len(stack))
        while len(stack) > keep:
            out.append(f"</{stack.pop()}>")
        for tag in wanted:
            if tag not in stack:
                stack.append(tag)
                out.append(f"<{tag}>")
        out.append(escape(span.text))
    out.extend(f"</{tag}>" for tag in reversed(stack))
    return "".join(out)


def render(spans: Iterable[Span]) -> str:
    """The WebVTT payload of a cue ('' if nothing visible is left)."""
    rendered = (_render_line(line) for line in _lines(spans))
    return "\n".join(line for line in rendered if line)


_VTT_TOKEN = re.compile(r"<([^>]*)>|([^<]+)")


def spans_from_webvtt(payload: str) -> list[Span]:
    """Spans of a WebVTT cue payload: <b>/<i>/<u> kept, other tags (<c>, <v>, <lang>, <ruby>, timestamps) dropped
    with their markup only, <rt> ruby text dropped, character references decoded."""
    spans: list[Span] = []
    depth = {"b": 0, "i": 0, "u": 0}
    in_rt = 0
    for match in _VTT_TOKEN.finditer(payload):
        tag, text = match.group(1), match.group(2)
        if text is not None:
            if not in_rt:
                spans.append(Span(html.unescape(text), depth["b"] > 0, depth["i"] > 0, depth["u"] > 0))
            continue
        tag = tag.strip()
        closing = tag.startswith("/")
        name = re.split(r"[\s.]", tag.lstrip("/"), maxsplit=1)[0].lower()
        if name in depth:
            depth[name] = max(0, depth[name] + (-1 if closing else 1))
        elif name == "rt":
            in_rt = max(0, in_rt + (-1 if closing else 1))
    return spans
