"""Spec 3.4 (video metadata) and 3.5 (metadata service, search, series)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import RequestModel, ResponseModel

Quality = Literal["360p", "720p", "1080p"]


class StreamingUrls(ResponseModel):
    hls: str
    dash: str | None = None


class StreamingUrlsIn(RequestModel):
    hls: str
    dash: str | None = None


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
    subtitles: list[str] = Field(default_factory=list)
    status: Literal["processing", "ready", "failed"] = "ready"


class CreateVideoMetadataRequest(RequestModel):
    videoId: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1, max_length=300)
    series: str = Field(min_length=1, max_length=300)
    episode: int = Field(ge=0, le=100_000)
    description: str = Field(max_length=10_000)
    duration: float = Field(ge=0)
    fileSize: int = Field(ge=0)
    uploaderId: str = Field(min_length=1)
    uploaderUsername: str = Field(min_length=1)
    availableQualities: list[Quality]
    thumbnailUrl: str
    streamingUrls: StreamingUrlsIn
    tags: list[str] | None = Field(None, max_length=30)
    language: str = Field(min_length=2, max_length=35)
    subtitles: list[str] | None = None


class SearchVideosQuery(RequestModel):
    q: str | None = Field(None, max_length=200)
    series: str | None = None
    episode: int | None = Field(None, ge=0)
    language: str | None = None
    uploader: str | None = None
    tags: str | None = Field(None, description="Comma-separated; a video matches when it has any of them.")
    page: int = Field(1, ge=1, le=1000)
    limit: int = Field(20, ge=1, le=100)
    sort: Literal["title", "uploadDate", "episode", "series"] | None = None
    order: Literal["asc", "desc"] = "asc"
    pageToken: str | None = Field(None, max_length=2000, description="Opaque cursor from nextPageToken.")


class SearchVideosResponse(ResponseModel):
    videos: list[VideoMetadata]
    total: int
    page: int
    limit: int
    totalPages: int
    nextPageToken: str | None = None


class GetSeriesResponse(ResponseModel):
    name: str
    description: str
    totalEpisodes: int
    availableEpisodes: list[int]
    language: str
    tags: list[str]
    thumbnailUrl: str
    episodes: list[VideoMetadata]
