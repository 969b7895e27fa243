"""Spec 3.4 (video metadata) and 3.5 (metadata service, search, series)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from . import text
from ._base import RequestModel, ResponseModel
from .subtitles import SubtitleTrackSummary

Quality = Literal["360p", "720p", "1080p"]
VIDEO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"
MAX_SEARCH_TAGS = 10
# User-visible text follows contracts/text.py: NFC, no control or format characters, trimmed, length in characters.
Tag = text.text(max_length=50)
Title = text.text(max_length=300)
SeriesName = text.text(max_length=300)
Description = text.text(min_length=0, max_length=10_000, multiline=True)
Username = text.text(max_length=256)
UserId = text.text(max_length=128)
SearchWords = text.text(min_length=0, max_length=200)
Language = Annotated[str, Field(min_length=2, max_length=35, pattern=LANGUAGE_PATTERN)]


class StreamingUrls(ResponseModel):
    hls: str
    dash: str | None = None


class StreamingUrlsIn(RequestModel):
    hls: str = Field(max_length=2048)
    dash: str | None = Field(None, max_length=2048)


class Uploader(ResponseModel):
    id: str
    username: str


class VideoMetadata(ResponseModel):
    """GetVideoMetadataResponse; also the element of search results and series episodes."""

    id: str
    title: str
    series: str
    episode: int
    description: str
    duration: float = Field(description="Seconds.")
    fileSize: int = Field(description="Bytes.")
    availableQualities: list[str]
    thumbnailUrl: str
    uploadDate: str
    uploader: Uploader
    streamingUrls: StreamingUrls
    tags: list[str] = Field(default_factory=list)
    language: str = "ko"
    subtitles: list[str] = Field(default_factory=list, description="Languages (BCP 47) of the video's ready "
                                 "subtitle tracks, in the order of subtitleTracks.")
    subtitleTracks: list[SubtitleTrackSummary] = Field(default_factory=list, description="Extension: the ready "
                                                       "subtitle tracks (GET /api/videos/{videoId}/subtitles).")
    status: Literal["processing", "playable", "ready", "failed"] = Field(
        "ready", description="processing: being transcoded, not playable yet; playable (premiere, extension): a long "
        "episode whose opening parts are transcoded plays now from streamingUrls while the rest is transcoded "
        "(an HLS EVENT playlist that grows; see progress); ready: all of it plays; failed: see failureReason.")
    progress: int | None = Field(None, ge=0, le=100, description="Extension: while playable, the percent of the "
                                 "video transcoded so far (parts done over parts).")
    failureReason: str | None = Field(None, description="Extension: why processing failed, in words the uploader "
                                      "can act on. Only on failed videos, only for their uploader and admins.")


class CreateVideoMetadataRequest(RequestModel):
    """Create or update a video's metadata (service identities only); idempotent on ``videoId``."""

    videoId: str = Field(min_length=1, max_length=128, pattern=VIDEO_ID_PATTERN,
                         description="Letters, digits, '-' and '_'; the video's document id.")
    title: Title
    series: SeriesName
    episode: int = Field(ge=0, le=100_000)
    description: Description
    duration: float = Field(ge=0, le=604_800, description="Seconds.")
    fileSize: int = Field(ge=0, le=2**50, description="Bytes.")
    uploaderId: str = Field(min_length=1, max_length=128)
    uploaderUsername: Username
    availableQualities: list[Quality] = Field(max_length=3)
    thumbnailUrl: str = Field(max_length=2048, description="As served (CDN-relative path or URL); stored as given.")
    streamingUrls: StreamingUrlsIn
    tags: list[Tag] | None = Field(None, max_length=30)
    language: str = Field(min_length=2, max_length=35, pattern=LANGUAGE_PATTERN)
    subtitles: list[Language] | None = Field(
        None, max_length=50,
        description="Accepted for compatibility and ignored: a video's subtitles are the languages of its subtitle "
        "tracks (PUT /api/videos/{videoId}/subtitles/{language}).")
    status: Literal["processing", "ready", "failed"] | None = Field(
        None,
        description="Extension. Omitted: a new video is 'ready' (the body describes a playable video) and an "
        "existing one keeps its status. Viewers see only 'ready' videos.",
    )


class SearchVideosQuery(RequestModel):
    q: SearchWords | None = Field(
        None,
        description="Words matched case- and accent-insensitively in title, series, tags and description: Latin "
        "words by prefix ('cra' finds 'Crash'), Hangul as syllable substrings ('사랑' finds '사랑의'). Every word "
        "must match. Ranked exact title > title prefix > title > series > description within each window of "
        "3 pages read in the requested sort, then by that sort.",
    )
    series: SeriesName | None = Field(None, description="Series name, compared after normalization (case, "
                                      "accents, spacing).")
    episode: int | None = Field(None, ge=0, le=100_000)
    language: str | None = Field(None, min_length=2, max_length=35, pattern=LANGUAGE_PATTERN,
                                 description="Language code, case-insensitive (ko, en, ...).")
    uploader: UserId | None = Field(None, description="Uploader id (uploader.id).")
    subtitles: str | None = Field(None, min_length=2, max_length=35, pattern=LANGUAGE_PATTERN,
                                  description="Only videos with a ready subtitle track in this language "
                                  "(BCP 47, case-insensitive: en, ko, zh-Hant).")
    tags: str | None = Field(
        None,
        max_length=600,
        description=f"Comma-separated, at most {MAX_SEARCH_TAGS}, each at most 50 characters, case-insensitive; a "
        "video matches when it has any of them.",
    )
    page: int = Field(
        1,
        ge=1,
        le=1000,
        description="1-based page. (page - 1) x limit must stay below 10 000: deeper pages cost a Firestore read per "
        "skipped video, so follow nextPageToken instead.",
    )
    limit: int = Field(20, ge=1, le=100, description="Videos per page.")
    sort: Literal["title", "uploadDate", "episode", "series"] | None = Field(
        None, description="Default title. series sorts by series name, then episode."
    )
    order: Literal["asc", "desc"] = "asc"
    pageToken: str | None = Field(
        None,
        min_length=1,
        max_length=2000,
        description="Opaque cursor from a previous response's nextPageToken, valid with the same other parameters; "
        "each page then costs reads in proportion to limit, however deep.",
    )

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return ",".join(text.split_list(value, max_items=MAX_SEARCH_TAGS, max_length=50, field="tag"))


class SearchVideosResponse(ResponseModel):
    videos: list[VideoMetadata]
    total: int
    page: int
    limit: int
    totalPages: int
    nextPageToken: str | None = Field(None, description="Absent on the last page. A page may hold fewer than "
                                      "limit videos while more follow; stop when this is absent.")
    totalExact: bool = Field(True, description="Extension. False when total is an estimate: above 10 000 matches "
                             "(total is then 10 000), or when some filters are applied after reading.")


class GetSeriesResponse(ResponseModel):
    name: str
    description: str
    totalEpisodes: int
    availableEpisodes: list[int]
    language: str
    tags: list[str]
    thumbnailUrl: str
    episodes: list[VideoMetadata]
