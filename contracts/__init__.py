"""kstream's API contract: pydantic models for every body in the spec, the error codes, and the OpenAPI document
generated from them (contracts/openapi.yaml, checked for drift by the tests)."""

from . import auth, metadata, stream, transcode, upload
from .envelope import ErrorBody, ErrorResponse
from .errors import DEFAULT_MESSAGES, HTTP_STATUS, ErrorCode

__all__ = [
    "DEFAULT_MESSAGES",
    "HTTP_STATUS",
    "ErrorBody",
    "ErrorCode",
    "ErrorResponse",
    "auth",
    "metadata",
    "stream",
    "transcode",
    "upload",
]
