"""Spec 3.4: the stream endpoint's query."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import RequestModel


class StreamQuery(RequestModel):
    quality: Literal["360p", "720p", "1080p"] | None = Field(
        None,
        description="One rendition only: with hls its media playlist (video; every URI signed), with dash an MPD "
        "with that video representation and the audio; with mp4 it must be the progressive file's rendition.",
    )
    format: Literal["hls", "dash", "mp4"] = Field(
        "hls",
        description="hls: the master playlist (variant URIs signed, segments authorised by the Cloud-CDN-Cookie set "
        "with it); dash: the MPD (segment templates signed); mp4: a 302 to the signed progressive MP4 on the CDN.",
    )
    token: str | None = Field(
        None, max_length=512,
        description="Extension: the playback token of a playback URL (streamingUrls of a video, or a playlist URI of "
        "a master answered here): stands in for the Authorization header, for players that cannot send one; it "
        "opens this video only, until it expires (docs/decisions/0010).")
    playlist: str | None = Field(
        None, max_length=256,
        description="Extension: one media playlist of the video (a URI of a master answered here), every URI in it "
        "absolute and signed on the CDN.")
