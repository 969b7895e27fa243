"""One exception tree for kstream. Every error a client can see carries its spec code and HTTP status.

    KstreamError                      code + status + message + details; rendered as the spec's envelope
    ├── AuthError
    │   ├── InvalidToken              401 AUTH_INVALID_TOKEN
    │   └── InsufficientPermissions   403 AUTH_INSUFFICIENT_PERMISSIONS
    ├── RequestInvalid                400 REQUEST_INVALID (bad JSON, types, missing/unknown fields, size, type)
    ├── UnsupportedVersion            400 API_VERSION_UNSUPPORTED
    ├── NotFound                      404 with the resource's own code (STREAM_VIDEO_NOT_FOUND, ...)
    ├── RateLimited                   429 RATE_LIMIT_EXCEEDED, with retry_after_seconds
    ├── Unavailable                   503 SYSTEM_UNAVAILABLE / TRANSCODE_PROVIDER_UNAVAILABLE
    └── ConfigurationError            a bad setting, raised at start-up (500 SYSTEM_ERROR if ever in a request)

Any other exception escaping a handler is a bug: it is logged with its traceback and answered as 500 SYSTEM_ERROR
without details (details only with KSTREAM_DEBUG on).
"""

from __future__ import annotations

from typing import Any

from contracts.errors import DEFAULT_MESSAGES, HTTP_STATUS, ErrorCode

__all__ = [
    "AuthError",
    "ConfigurationError",
    "ErrorCode",
    "InsufficientPermissions",
    "InvalidToken",
    "KstreamError",
    "NotFound",
    "RateLimited",
    "RequestInvalid",
    "Unavailable",
    "UnsupportedVersion",
]


class KstreamError(Exception):
    """An error with a spec code; ``status`` derives from the code unless given."""

    default_code: ErrorCode = ErrorCode.SYSTEM_ERROR

    def __init__(
        self,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
        details: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = message or DEFAULT_MESSAGES[self.code]
        self.details = details
        self.status = status or HTTP_STATUS[self.code]
        self.headers = headers or {}
        super().__init__(self.message)


class AuthError(KstreamError):
    default_code = ErrorCode.AUTH_INVALID_TOKEN


class InvalidToken(AuthError):
    default_code = ErrorCode.AUTH_INVALID_TOKEN


class InsufficientPermissions(AuthError):
    default_code = ErrorCode.AUTH_INSUFFICIENT_PERMISSIONS


class RequestInvalid(KstreamError):
    default_code = ErrorCode.REQUEST_INVALID


class UnsupportedVersion(KstreamError):
    default_code = ErrorCode.API_VERSION_UNSUPPORTED


class NotFound(KstreamError):
    default_code = ErrorCode.ROUTE_NOT_FOUND


class RateLimited(KstreamError):
    default_code = ErrorCode.RATE_LIMIT_EXCEEDED

    def __init__(self, message: str | None = None, *, retry_after_seconds: int, limit: int, **kwargs: Any) -> None:
        self.retry_after_seconds = retry_after_seconds
        headers = {
            "Retry-After": str(retry_after_seconds),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
        }
        super().__init__(message, headers=headers, **kwargs)


class Unavailable(KstreamError):
    default_code = ErrorCode.SYSTEM_UNAVAILABLE


class ConfigurationError(KstreamError):
    default_code = ErrorCode.SYSTEM_ERROR
