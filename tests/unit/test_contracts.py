"""The contract: every function has one, every error code has a status, and the OpenAPI file is current."""

from __future__ import annotations

import yaml
from kstream.registry import function_list
from openapi_spec_validator import validate

from contracts import openapi
from contracts.endpoints import ENDPOINTS
from contracts.errors import DEFAULT_MESSAGES, HTTP_STATUS, ErrorCode

SPEC_CODES = {
    "AUTH_INVALID_TOKEN": 401, "AUTH_INSUFFICIENT_PERMISSIONS": 403, "UPLOAD_FILE_TOO_LARGE": 413,
    "UPLOAD_INVALID_FORMAT": 400, "UPLOAD_CHUNK_MISSING": 400, "UPLOAD_CHECKSUM_MISMATCH": 400,
    "TRANSCODE_JOB_NOT_FOUND": 404, "TRANSCODE_FAILED": 500, "TRANSCODE_PROVIDER_UNAVAILABLE": 503,
    "STREAM_VIDEO_NOT_FOUND": 404, "STREAM_ACCESS_DENIED": 403, "STREAM_QUALITY_NOT_AVAILABLE": 404,
    "RATE_LIMIT_EXCEEDED": 429, "SYSTEM_UNAVAILABLE": 503, "SYSTEM_MAINTENANCE": 503,
}


def test_every_spec_error_code_exists_with_its_status() -> None:
    for code, status in SPEC_CODES.items():
        assert HTTP_STATUS[ErrorCode(code)] == status


def test_every_code_has_a_status_and_a_message() -> None:
    assert set(HTTP_STATUS) == set(ErrorCode) == set(DEFAULT_MESSAGES)


def test_every_http_function_has_a_contract_and_no_contract_is_orphaned() -> None:
    http_names = {f.name for f in function_list().http_functions}
    assert http_names == set(ENDPOINTS)


def test_committed_openapi_matches_the_models() -> None:
    committed = openapi.OPENAPI_FILE.read_text(encoding="utf-8")
    assert committed == openapi.render(), "contracts/openapi.yaml drifted from the models: run `make openapi`"


def test_openapi_is_valid_3_1_and_lists_every_route() -> None:
    document = yaml.safe_load(openapi.OPENAPI_FILE.read_text(encoding="utf-8"))
    validate(document)
    assert document["openapi"] == "3.1.0"
    for spec in function_list().http_functions:
        assert spec.http is not None
        assert spec.http.method.lower() in document["paths"][spec.http.path], spec.name
