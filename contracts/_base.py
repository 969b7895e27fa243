"""Base classes shared by every contract model.

``defer_build=True``: a model's validator and serializer (its pydantic-core schema) are built the first time it is
used, not when its module is imported, so a function builds only the models its route answers with (cold start,
decision 0012); what a model accepts and answers is unchanged."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, so a client's typo is a 400 naming the field, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class ResponseModel(BaseModel):
    """A response body, serialised with its fields exactly as the spec names them; unset optionals are omitted."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
