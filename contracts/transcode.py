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
    priority: Literal["high", "normal", "low"] = Field(
        "normal",
        description="The Transcoder API's job mode: high runs interactively (started at once, or refused while the "
        "project's concurrent-job quota is full); normal and low are batch jobs, queued (status queued) behind "
        "interactive ones with batchModePriority 10 and 0, first in, first out within one priority. Every mode "
        "costs the same per output minute; batch waits instead of being refused. Uploads run as high.",
    )
    callbackUrl: str | None = Field(
        None,
        description="https URL (http only to a loopback host in local runs) POSTed once when the job completes or "
        "fails: JSON {jobId, videoId, status: completed|failed, completedAt, outputFiles?, error?} with header "
        "X-Kstream-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.' + raw body, keyed with the shared "
        "callback secret>; reject it when the HMAC differs or t is more than 5 minutes old. Retried 3 times with "
        "exponential backoff on timeouts, 408, 429 and 5xx.",
    )


class StartTranscodingResponse(ResponseModel):
    jobId: str
    status: Literal["queued", "processing", "failed"] = Field(
        description="'failed' when the source cannot be transcoded (its reason is in the job's status)."
    )
    estimatedDuration: int = Field(description="Minutes.")
    provider: Literal["google_cloud", "local"] = Field(
        description="google_cloud: the Google Transcoder API; local: kstream's local Transcoder emulator."
    )


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
    progress: int = Field(ge=0, le=100, description="0 until the job runs, 100 once its outputs are recorded.")
    outputFiles: OutputFiles | None = None
    error: str | None = Field(None, description="'TRANSCODE_FAILED: <reason>' for a failed job.")
    completedAt: str | None = Field(None, description="ISO 8601 UTC, when the job completed or failed.")
    estimatedCompletion: str | None = Field(
        None, description="Extension: ISO 8601 UTC, when an unfinished job should end: from its measured progress "
        "once it runs and has progressed (elapsed time / progress, where the provider reports progress), else its "
        "start estimate (estimatedDuration) counted from its creation.")
