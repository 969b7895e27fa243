"""Subtitle tracks of a video (extension of spec 3.4): list, add or replace one language, delete one.

A track is one language of one video: SubRip, WebVTT, SubStation Alpha or SAMI as the uploader has it, stored and
served as normalised WebVTT (UTF-8). ``VideoMetadata.subtitles`` lists the languages of the ready tracks (the spec's
list of tags); ``VideoMetadata.subtitleTracks`` carries their labels, kinds and default flag.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from . import text
from ._base import RequestModel, ResponseModel

MAX_SUBTITLE_FILE_BYTES = 2 * 1024 * 1024
"""Largest subtitle file accepted (bytes, before base64): an 80-minute episode's track is 60-150 KB."""
MAX_SUBTITLE_BODY_BYTES = 4 * 1024 * 1024
"""Request body bound of the add/replace endpoint: the base64 of the largest file (x4/3) plus the JSON around it."""
SUBTITLE_EXTENSIONS = (".srt", ".vtt", ".ass", ".ssa", ".smi", ".sami")

TrackLabel = text.text(max_length=80, pattern=r'^[^"]+$')
SubtitleKind = Literal["subtitles", "captions"]
TrackStatus = Literal["pending", "ready", "rejected"]


class SubtitleTrackSummary(ResponseModel):
    """A ready track as videos, search results and series episodes show it."""

    language: str = Field(description="BCP 47 tag, canonical form (ko, en, zh-Hant, pt-BR).")
    label: str = Field(description="What the player's CC menu shows, e.g. 'English', '한국어'.")
    kind: SubtitleKind = Field(description="captions: for the deaf and hard of hearing (sounds described).")
    default: bool = Field(description="Selected when the viewer has no preference.")


class SubtitleTrack(SubtitleTrackSummary):
    format: str = Field(description="The uploaded file's format: srt, vtt, ass, ssa or smi.")
    cueCount: int
    status: TrackStatus = Field(description="pending: attached to a video that is still being transcoded; it "
                                "becomes ready with the video. rejected: its cues end past the video (known once the "
                                "upload is probed); see reason, and send a corrected file.")
    reason: str | None = Field(None, description="Why the track was rejected.")
    updatedAt: str


class PutSubtitleRequest(RequestModel):
    """Add or replace the track of one language. The file goes in the body, base64-encoded, in any text encoding
    (UTF-8 with or without BOM, UTF-16, CP949/EUC-KR, ...)."""

    fileName: text.FileName = Field(description="The file's name; its extension hints the format "
                                    f"({', '.join(SUBTITLE_EXTENSIONS)}).")
    content: str = Field(max_length=MAX_SUBTITLE_BODY_BYTES,
                         description=f"The file's bytes, base64 (standard alphabet); at most "
                         f"{MAX_SUBTITLE_FILE_BYTES // (1024 * 1024)} MiB decoded.")
    label: TrackLabel | None = Field(None, description="Shown in the CC menu (the text rule, and no double quotes). "
                                     "Default: the language's own name (English, 한국어).")
    kind: SubtitleKind = "subtitles"
    default: bool = Field(False, description="Make this the video's default track (another default is cleared).")


class ListSubtitlesResponse(ResponseModel):
    videoId: str
    tracks: list[SubtitleTrack]
