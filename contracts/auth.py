"""Spec 3.1: the load balancer's token validation call."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import ResponseModel
from .envelope import ErrorResponse

Role = Literal["user", "uploader", "admin"]


class AuthUser(ResponseModel):
    id: str = Field(description="Firebase Auth uid, or the service account email for service identities.")
    username: str
    role: str = Field(description="user | uploader | admin (service for service identities).")
    permissions: list[str]


class AuthValidationResponse(ResponseModel):
    valid: bool
    user: AuthUser | None = None
    error: str | None = None


class AuthValidationError(ErrorResponse):
    """Every error of /auth/validate: the spec's error envelope, with ``valid: false`` beside it so a load balancer
    that reads only ``valid`` refuses the request."""

    valid: Literal[False] = Field(False, description="Always false: the token may not reach X-Original-URI.")
