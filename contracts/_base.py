"""Base classes shared by every contract model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, so a client's typo is a 400 naming the field, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    """A response body, serialised with its fields exactly as the spec names them; unset optionals are omitted."""

    model_config = ConfigDict(extra="forbid")
