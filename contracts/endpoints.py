"""What each HTTP function accepts and answers, keyed by its name in functions/functions.yaml.

Method, path and access live in functions.yaml (the wiring); bodies, parameters and error codes live here (the
contract). The OpenAPI document is generated from both (contracts/openapi.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from . import auth, metadata, stream, subtitles, transcode, upload
from .errors import ErrorCode

COMMON_ERRORS = (ErrorCode.REQUEST_INVALID, ErrorCode.API_VERSION_UNSUPPORTED, ErrorCode.SYSTEM_ERROR)
USER_ERRORS = (ErrorCode.AUTH_INVALID_TOKEN, ErrorCode.AUTH_INSUFFICIENT_PERMISSIONS)


@dataclass(frozen=True)
class Endpoint:
    summary: str
    response: type[BaseModel] | None
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[ErrorCode, ...] = ()
    response_media_types: tuple[str, ...] = ("application/json",)
    extra_responses: dict[int, str] = field(default_factory=dict)
    success_status: int = 200
    success_description: str = "OK"


ENDPOINTS: dict[str, Endpoint] = {
    "auth-validate": Endpoint(
        "Validate a Firebase ID token for the load balancer, optionally against X-Original-URI",
        response=auth.AuthValidationResponse,
        errors=USER_ERRORS,
    ),
    "upload-start": Endpoint(
        "Start an upload session: one V4 signed PUT URL per chunk",
        request=upload.StartUploadRequest,
        response=upload.StartUploadResponse,
        errors=(ErrorCode.UPLOAD_FILE_TOO_LARGE, ErrorCode.UPLOAD_INVALID_FORMAT, ErrorCode.RATE_LIMIT_EXCEEDED,
                ErrorCode.SYSTEM_UNAVAILABLE),
    ),
    "upload-chunk": Endpoint(
        "Upload one chunk through the API, for clients that cannot reach storage directly: body multipart/form-data "
        "with the file field 'chunk' (or the raw bytes as application/octet-stream), exactly the chunk's size; "
        "uploads with chunkSize above 16 MiB must use their signed URLs",
        response=upload.UploadChunkResponse,
        errors=(ErrorCode.UPLOAD_CHECKSUM_MISMATCH, ErrorCode.UPLOAD_NOT_FOUND, ErrorCode.UPLOAD_EXPIRED,
                ErrorCode.SYSTEM_UNAVAILABLE),
    ),
    "upload-status": Endpoint(
        "The state of an upload session, to resume an interrupted upload",
        response=upload.UploadStatusResponse,
        errors=(ErrorCode.UPLOAD_NOT_FOUND,),
    ),
    "upload-complete": Endpoint(
        "Verify and compose the chunks and start processing",
        request=upload.CompleteUploadRequest,
        response=upload.CompleteUploadResponse,
        errors=(
            ErrorCode.UPLOAD_CHUNK_MISSING,
            ErrorCode.UPLOAD_CHECKSUM_MISMATCH,
            ErrorCode.UPLOAD_NOT_FOUND,
            ErrorCode.UPLOAD_EXPIRED,
            ErrorCode.UPLOAD_INVALID_FORMAT,
            ErrorCode.SYSTEM_UNAVAILABLE,
        ),
    ),
    "transcode-start": Endpoint(
        "Start a transcoding job (service identities only)",
        request=transcode.StartTranscodingRequest,
        response=transcode.StartTranscodingResponse,
        errors=(ErrorCode.TRANSCODE_PROVIDER_UNAVAILABLE, ErrorCode.TRANSCODE_FAILED),
    ),
    "transcode-status": Endpoint(
        "A transcoding job's state (service identities only)",
        response=transcode.GetJobStatusResponse,
        errors=(ErrorCode.TRANSCODE_JOB_NOT_FOUND, ErrorCode.TRANSCODE_PROVIDER_UNAVAILABLE),
    ),
    "stream": Endpoint(
        "The HLS master playlist, DASH manifest or progressive MP4 of a video",
        response=None,
        query=stream.StreamQuery,
        errors=(
            ErrorCode.STREAM_VIDEO_NOT_FOUND,
            ErrorCode.STREAM_ACCESS_DENIED,
            ErrorCode.STREAM_QUALITY_NOT_AVAILABLE,
            ErrorCode.SYSTEM_UNAVAILABLE,
        ),
        response_media_types=("application/vnd.apple.mpegurl", "application/dash+xml"),
        extra_responses={
            302: "format=mp4: Location is the signed CDN URL of the progressive MP4; the CDN answers Range with "
            "206 (Content-Range, Accept-Ranges: bytes) or 416",
            206: "A Range on the manifest: the bytes asked for, with Content-Range",
            416: "A well-formed Range that starts past the manifest's end: Content-Range: bytes */<length>, no body "
            "(a malformed Range is ignored: 200)",
        },
    ),
    "video-get": Endpoint(
        "A video's metadata",
        response=metadata.VideoMetadata,
        errors=(ErrorCode.STREAM_VIDEO_NOT_FOUND, ErrorCode.SYSTEM_UNAVAILABLE),
    ),
    "metadata-upsert": Endpoint(
        "Create or update a video's metadata (service identities only), idempotent on videoId",
        request=metadata.CreateVideoMetadataRequest,
        response=metadata.VideoMetadata,
        errors=(ErrorCode.SYSTEM_UNAVAILABLE,),
    ),
    "video-search": Endpoint(
        "Search videos (Korean and English), filter, sort and page",
        response=metadata.SearchVideosResponse,
        query=metadata.SearchVideosQuery,
        errors=(ErrorCode.SYSTEM_UNAVAILABLE,),
    ),
    "series-get": Endpoint(
        "A series and its episodes in episode order",
        response=metadata.GetSeriesResponse,
        errors=(ErrorCode.SERIES_NOT_FOUND, ErrorCode.SYSTEM_UNAVAILABLE),
    ),
    "subtitles-list": Endpoint(
        "A video's subtitle tracks (pending ones only for its uploader and admins)",
        response=subtitles.ListSubtitlesResponse,
        errors=(ErrorCode.STREAM_VIDEO_NOT_FOUND, ErrorCode.SYSTEM_UNAVAILABLE),
    ),
    "subtitle-put": Endpoint(
        "Add or replace the subtitle track of one language (the video's uploader or an admin; also while its upload "
        "session is open). The file is parsed and stored as WebVTT; the video is not transcoded again",
        request=subtitles.PutSubtitleRequest,
        response=subtitles.SubtitleTrack,
        errors=(ErrorCode.STREAM_VIDEO_NOT_FOUND, ErrorCode.SYSTEM_UNAVAILABLE),
        extra_responses={201: "Created: the video had no track in this language"},
    ),
    "subtitle-delete": Endpoint(
        "Delete the subtitle track of one language (the video's uploader or an admin); 204 also when there was none",
        response=None,
        errors=(ErrorCode.STREAM_VIDEO_NOT_FOUND, ErrorCode.SYSTEM_UNAVAILABLE),
        success_status=204,
        success_description="Deleted (or there was no track in this language)",
    ),
}
