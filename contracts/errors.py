"""Error codes of the API and the HTTP status each one answers with (spec section 4).

The spec's "common" codes are all here unchanged. Codes marked *extension* are kstream's additions where the spec
has none for a case it requires (bad request bodies, API versions, unknown routes); the README lists them.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # Authentication
    AUTH_INVALID_TOKEN = "AUTH_INVALID_TOKEN"
    AUTH_INSUFFICIENT_PERMISSIONS = "AUTH_INSUFFICIENT_PERMISSIONS"
    # Upload
    UPLOAD_FILE_TOO_LARGE = "UPLOAD_FILE_TOO_LARGE"
    UPLOAD_INVALID_FORMAT = "UPLOAD_INVALID_FORMAT"
    UPLOAD_CHUNK_MISSING = "UPLOAD_CHUNK_MISSING"
    UPLOAD_CHECKSUM_MISMATCH = "UPLOAD_CHECKSUM_MISMATCH"
    UPLOAD_NOT_FOUND = "UPLOAD_NOT_FOUND"  # extension
    UPLOAD_EXPIRED = "UPLOAD_EXPIRED"  # extension
    # Transcoding
    TRANSCODE_JOB_NOT_FOUND = "TRANSCODE_JOB_NOT_FOUND"
    TRANSCODE_FAILED = "TRANSCODE_FAILED"
    TRANSCODE_PROVIDER_UNAVAILABLE = "TRANSCODE_PROVIDER_UNAVAILABLE"
    # Streaming
    STREAM_VIDEO_NOT_FOUND = "STREAM_VIDEO_NOT_FOUND"
    STREAM_ACCESS_DENIED = "STREAM_ACCESS_DENIED"
    STREAM_QUALITY_NOT_AVAILABLE = "STREAM_QUALITY_NOT_AVAILABLE"
    # Catalog
    SERIES_NOT_FOUND = "SERIES_NOT_FOUND"  # extension
    # Rate limiting
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    # Requests (extensions)
    REQUEST_INVALID = "REQUEST_INVALID"
    API_VERSION_UNSUPPORTED = "API_VERSION_UNSUPPORTED"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    # System
    SYSTEM_ERROR = "SYSTEM_ERROR"  # the spec's fallback code in its global error handler
    SYSTEM_UNAVAILABLE = "SYSTEM_UNAVAILABLE"
    SYSTEM_MAINTENANCE = "SYSTEM_MAINTENANCE"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.AUTH_INVALID_TOKEN: 401,
    ErrorCode.AUTH_INSUFFICIENT_PERMISSIONS: 403,
    ErrorCode.UPLOAD_FILE_TOO_LARGE: 413,
    ErrorCode.UPLOAD_INVALID_FORMAT: 400,
    ErrorCode.UPLOAD_CHUNK_MISSING: 400,
    ErrorCode.UPLOAD_CHECKSUM_MISMATCH: 400,
    ErrorCode.UPLOAD_NOT_FOUND: 404,
    ErrorCode.UPLOAD_EXPIRED: 410,
    ErrorCode.TRANSCODE_JOB_NOT_FOUND: 404,
    ErrorCode.TRANSCODE_FAILED: 500,
    ErrorCode.TRANSCODE_PROVIDER_UNAVAILABLE: 503,
    ErrorCode.STREAM_VIDEO_NOT_FOUND: 404,
    ErrorCode.STREAM_ACCESS_DENIED: 403,
    ErrorCode.STREAM_QUALITY_NOT_AVAILABLE: 404,
    ErrorCode.SERIES_NOT_FOUND: 404,
    ErrorCode.RATE_LIMIT_EXCEEDED: 429,
    ErrorCode.REQUEST_INVALID: 400,
    ErrorCode.API_VERSION_UNSUPPORTED: 400,
    ErrorCode.ROUTE_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.SYSTEM_ERROR: 500,
    ErrorCode.SYSTEM_UNAVAILABLE: 503,
    ErrorCode.SYSTEM_MAINTENANCE: 503,
}

DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.AUTH_INVALID_TOKEN: "Invalid or expired authentication token",
    ErrorCode.AUTH_INSUFFICIENT_PERMISSIONS: "User lacks required permissions",
    ErrorCode.UPLOAD_FILE_TOO_LARGE: "File size exceeds maximum allowed",
    ErrorCode.UPLOAD_INVALID_FORMAT: "File format not supported",
    ErrorCode.UPLOAD_CHUNK_MISSING: "Required chunk not found",
    ErrorCode.UPLOAD_CHECKSUM_MISMATCH: "File integrity check failed",
    ErrorCode.UPLOAD_NOT_FOUND: "Upload session not found",
    ErrorCode.UPLOAD_EXPIRED: "Upload session has expired",
    ErrorCode.TRANSCODE_JOB_NOT_FOUND: "Transcoding job not found",
    ErrorCode.TRANSCODE_FAILED: "Video transcoding failed",
    ErrorCode.TRANSCODE_PROVIDER_UNAVAILABLE: "No transcoding provider available",
    ErrorCode.STREAM_VIDEO_NOT_FOUND: "Video not found",
    ErrorCode.STREAM_ACCESS_DENIED: "User cannot access this video",
    ErrorCode.STREAM_QUALITY_NOT_AVAILABLE: "Requested quality not available",
    ErrorCode.SERIES_NOT_FOUND: "Series not found",
    ErrorCode.RATE_LIMIT_EXCEEDED: "Too many requests, please try again later",
    ErrorCode.REQUEST_INVALID: "The request is not valid",
    ErrorCode.API_VERSION_UNSUPPORTED: "API version not supported",
    ErrorCode.ROUTE_NOT_FOUND: "No such endpoint",
    ErrorCode.METHOD_NOT_ALLOWED: "Method not allowed on this endpoint",
    ErrorCode.SYSTEM_ERROR: "An unexpected error occurred",
    ErrorCode.SYSTEM_UNAVAILABLE: "Service temporarily unavailable",
    ErrorCode.SYSTEM_MAINTENANCE: "System under maintenance",
}
