"""Generate the OpenAPI 3.1 document from the contract models and the function list.

``python -m contracts.openapi --write`` rewrites contracts/openapi.yaml; ``--check`` exits 1 when the committed file
differs from what the models say (the test suite runs the same comparison).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .auth import AuthValidationError
from .endpoints import COMMON_ERRORS, ENDPOINTS, USER_ERRORS, Endpoint
from .envelope import ErrorResponse
from .errors import DEFAULT_MESSAGES, HTTP_STATUS, ErrorCode

HERE = Path(__file__).resolve().parent
OPENAPI_FILE = HERE / "openapi.yaml"
FUNCTIONS_FILE = HERE.parent / "functions" / "functions.yaml"
REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")

HEADER_PARAMETERS = {
    "Accept-Version": {
        "name": "Accept-Version", "in": "header", "required": False,
        "description": "API version; only v1 exists. Another value is 400 API_VERSION_UNSUPPORTED.",
        "schema": {"type": "string", "enum": ["v1"]},
    },
    "X-Request-ID": {
        "name": "X-Request-ID", "in": "header", "required": False,
        "description": "Correlation id (8-128 of A-Z a-z 0-9 . _ : -); generated when absent; echoed back.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:\\-]{8,128}$"},
    },
}
EXTRA_HEADERS: dict[str, list[dict[str, Any]]] = {
    "auth-validate": [
        {"name": "X-Original-URI", "in": "header", "required": False,
         "description": "The path the caller wants to reach; 403 when the token's role may not.",
         "schema": {"type": "string"}},
        {"name": "X-Original-Method", "in": "header", "required": False,
         "description": "The method of that request, to pick among routes sharing a path.",
         "schema": {"type": "string"}},
    ],
    "upload-chunk": [
        {"name": "X-Chunk-Checksum", "in": "header", "required": True,
         "description": "Hex MD5 (32 digits) or hex SHA-256 (64 digits) of the chunk bytes.",
         "schema": {"type": "string", "pattern": "^([0-9a-fA-F]{32}|[0-9a-fA-F]{64})$"}},
    ],
    "stream": [
        {"name": "Range", "in": "header", "required": False,
         "description": "Byte range of the progressive MP4 (format=mp4): 206 or 416.",
         "schema": {"type": "string"}},
    ],
}


# Functions whose errors carry more than the envelope (http.py builds them from the same model).
ERROR_MODELS: dict[str, type[BaseModel]] = {"auth-validate": AuthValidationError}


def _load_functions() -> list[dict[str, Any]]:
    with FUNCTIONS_FILE.open(encoding="utf-8") as handle:
        return [f for f in yaml.safe_load(handle)["functions"] if f.get("http")]


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"ErrorResponse": ErrorResponse}
    found.update({model.__name__: model for model in ERROR_MODELS.values()})
    for endpoint in ENDPOINTS.values():
        for model in (endpoint.request, endpoint.response):
            if model is not None:
                found[model.__name__] = model
    return list(found.values())


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        if "anyOf" in prop:  # Optional[X]: a query parameter is simply absent instead of null
            options = [p for p in prop.pop("anyOf") if p.get("type") != "null"]
            prop.update(options[0] if len(options) == 1 else {"anyOf": options})
        if prop.get("default", 0) is None:
            prop.pop("default")
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _error_responses(codes: tuple[ErrorCode, ...], model: type[BaseModel] = ErrorResponse) -> dict[str, Any]:
    by_status: dict[int, list[ErrorCode]] = defaultdict(list)
    for code in codes:
        by_status[HTTP_STATUS[code]].append(code)
    return {
        str(status): {
            "description": "; ".join(f"{code.value}: {DEFAULT_MESSAGES[code]}" for code in sorted(set(found))),
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
        }
        for status, found in sorted(by_status.items())
    }


def _operation(function: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    access = function.get("access", "public")
    path = function["http"]["path"]
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _PARAM.findall(path)
    ]
    if endpoint.query is not None:
        parameters += _query_parameters(endpoint.query)
    parameters += EXTRA_HEADERS.get(function["name"], [])
    parameters += [{"$ref": f"#/components/parameters/{name}"} for name in HEADER_PARAMETERS]
    codes = list(COMMON_ERRORS) + list(endpoint.errors)
    if access in ("user", "service") or function["name"] == "auth-validate":
        codes += list(USER_ERRORS)
    if access == "user" and function.get("permission"):
        description = f"Needs a Firebase ID token whose role grants `{function['permission']}`."
    elif access == "service":
        description = "Only service identities: a Google-signed OIDC token of an allow-listed service account."
    else:
        description = "No role needed."
    operation: dict[str, Any] = {
        "operationId": function["entry_point"],
        "summary": endpoint.summary,
        "description": description + " Also served at the /api/v1/... form of this path.",
        "tags": [path.split("/")[2] if path.startswith("/api/") else "auth"],
        "parameters": parameters,
    }
    if access == "service":
        operation["security"] = [{"serviceIdentity": []}]
    elif access == "user" or function["name"] == "auth-validate":
        operation["security"] = [{"firebaseIdToken": []}]
    else:
        operation["security"] = []
    if endpoint.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=endpoint.request.__name__)}}},
        }
    if endpoint.success_status == 204:
        ok: dict[str, Any] = {"description": endpoint.success_description}
    elif endpoint.response is not None:
        ok = {
            "description": endpoint.success_description,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=endpoint.response.__name__)}}},
        }
    else:
        ok = {"description": "OK", "content": {media: {"schema": {"type": "string"}}
                                               for media in endpoint.response_media_types}}
    responses: dict[str, Any] = {str(endpoint.success_status): ok}
    responses.update({str(status): {"description": text} for status, text in endpoint.extra_responses.items()})
    responses.update(_error_responses(tuple(codes), ERROR_MODELS.get(function["name"], ErrorResponse)))
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def build_document() -> dict[str, Any]:
    _, schemas = models_json_schema([(m, "serialization") for m in _models()], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for function in _load_functions():
        endpoint = ENDPOINTS.get(function["name"])
        if endpoint is None:
            raise KeyError(f"function {function['name']} has no contract in contracts/endpoints.py")
        path = function["http"]["path"]
        paths.setdefault(path, {})[function["http"]["method"].lower()] = _operation(function, endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kstream API",
            "version": "1.0.0",
            "description": "K-drama streaming backend on Google Cloud. Every /api path is also served at /api/v1; "
            "errors use the envelope in ErrorResponse with a code from ErrorCode.",
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "make dev"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.get("$defs", {}).items())),
            "parameters": HEADER_PARAMETERS,
            "securitySchemes": {
                "firebaseIdToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                    "description": "Firebase Auth ID token; the role is the custom claim `role`."},
                "serviceIdentity": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                    "description": "Google-signed OIDC ID token of an allow-listed service account."},
            },
        },
    }


def render() -> str:
    return yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        OPENAPI_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {OPENAPI_FILE}")
        return 0
    if OPENAPI_FILE.read_text(encoding="utf-8") != text:
        print("contracts/openapi.yaml is out of date: run `make openapi`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
