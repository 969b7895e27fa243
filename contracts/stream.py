"""Spec 3.4: the stream endpoint's query."""

from __future__ import annotations

from typing import Literal

from ._base import RequestModel


class StreamQuery(RequestModel):
    quality: Literal["360p", "720p", "1080p"] | None = None
    format: Literal["hls", "dash", "mp4"] = "hls"
