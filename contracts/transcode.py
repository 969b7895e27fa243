"""Spec 3.3: transcoding jobs (service identities only)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import RequestModel, ResponseModel

Resolution = Literal["360p", "720p", "1080p"]


class HlsOutput(RequestModel):
    resolutions: list[Resolution] = Field(default_factory=lambda: ["360p", "720p", "1080p"], min_length=1)
    segmentDuration: float = Field(6, gt=0, le=60, description="Seconds; a multiple of the 2 s GOP.")


class DashOutput(HlsOutput):
    pass


class OutputFormats(RequestModel):
    hls: HlsOutput
    dash: DashOutput | None = None


class StartTranscodingRequest(RequestModel):
    videoId: str = Field(min_length=1, max_length=128)
    sourcePath: str = Field(min_length=1, description="gs://bucket/object of the source video.")
    outputFormats: OutputFormats
    priority: Literal["high", "normal", "low"] = "normal"
    callbackUrl: str | None = Field(None, description="https URL called once on completion, HMAC-signed.")


class StartTranscodingResponse(ResponseModel):
    jobId: str
    status: Literal["queued", "processing", "failed"]
    estimatedDuration: int = Field(description="Minutes.")
    provider: Literal["google_cloud", "local"]


class HlsFiles(ResponseModel):
    playlist: str
    segments: list[str]


class DashFiles(ResponseModel):
    manifest: str
    segments: list[str]


class OutputFiles(ResponseModel):
    hls: HlsFiles
    dash: DashFiles | None = None


class GetJobStatusResponse(ResponseModel):
    jobId: str
    status: Literal["queued", "processing", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    outputFiles: OutputFiles | None = None
    error: str | None = None
    completedAt: str | None = None
