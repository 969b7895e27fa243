"""Turning untrusted mappings into contract models: one pydantic validation, one spec error.

Used by the HTTP layer for bodies and query strings and by services for data that arrives another way (a document
built from a request, metadata from storage). A failure is ``RequestInvalid`` listing every field and its problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import RequestInvalid

Model = TypeVar("Model", bound=BaseModel)


def validate(model: type[Model], data: Mapping[str, Any], *, where: str) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(part) for part in err["loc"]) or where, "problem": _problem(err)}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RequestInvalid(f"Invalid {where}: {first['field']}: {first['problem']}{more}",
                             details={"fields": problems}) from None


def _problem(err: Mapping[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    return str(err["msg"])
