"""What every part of the subtitle core shares: the cue, the parsed file, the limits and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kstream.errors import RequestInvalid

MAX_SUBTITLE_BYTES = 2 * 1024 * 1024
END_TOLERANCE_SECONDS = 5.0

SOURCE_FORMATS = ("srt", "vtt", "ass", "ssa", "smi")


@dataclass(frozen=True)
class Cue:
    """One cue: times in seconds from the video's start; `text` is a WebVTT cue payload, already escaped.

    The payload keeps only <b>, <i> and <u> and uses '\\n' between lines; it has no blank line and no '-->'.
    """

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class ParsedSubtitle:
    """A subtitle file read and checked: its cues in file order, what it was and how it was encoded.

    `languages` lists the languages a SAMI file declares for its classes (empty for the other formats).
    """

    cues: tuple[Cue, ...]
    source_format: str
    encoding: str
    languages: tuple[str, ...] = ()


class SubtitleInvalid(RequestInvalid):
    """A subtitle file or language the API refuses: 400 REQUEST_INVALID, naming the file and, if known, the line.

    details = {"field": ..., "file": file name or None, "line": 1-based line or None, **extra}
    """

    def __init__(
        self,
        message: str,
        *,
        file_name: str | None = None,
        line: int | None = None,
        field: str = "file",
        **extra: Any,
    ) -> None:
        self.file_name = file_name
        self.line = line
        self.field = field
        super().__init__(message, details={"field": field, "file": file_name, "line": line, **extra})
