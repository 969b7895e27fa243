"""The error envelope of spec section 4."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ._base import ResponseModel
from .errors import ErrorCode


class ErrorBody(ResponseModel):
    code: ErrorCode = Field(description="A spec error code (see the ErrorCode enum).")
    message: str = Field(description="What was expected and what was found, for a human.")
    details: Any | None = Field(None, description="Structured context, e.g. the fields that failed validation.")
    timestamp: str = Field(description="ISO 8601 UTC time of the error.")
    requestId: str = Field(description="The X-Request-ID of the request, also in the response header and logs.")


class ErrorResponse(ResponseModel):
    error: ErrorBody
