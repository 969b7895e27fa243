"""What every HTTP function does around its handler: envelope, validation, request ids, versions, logging.

Uses functions-framework's own app (create_app is what the cloud runtime builds) around a test handler bound to
the public ``auth-validate`` entry of the function list, with Settings built here (no environment patching).
"""

from __future__ import annotations

import io
import json
from typing import Any

import flask
import pytest
from kstream import http as khttp
from kstream import observability
from kstream.errors import KstreamError, NotFound
from kstream.observability import StructuredLogger, parse_trace, redact_url
from kstream.settings import Settings
from pydantic import Field

from contracts._base import RequestModel


class Body(RequestModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=0)
    nested: dict[str, int] | None = None


def _settings(**overrides: Any) -> Settings:
    return Settings(project_id="demo-unit", max_body_bytes=2048, **overrides)


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr(observability, "_process_logger", StructuredLogger("demo-unit", "DEBUG", stream))
    return stream


def _client(handler: Any, **settings: Any) -> flask.testing.FlaskClient:
    entry = khttp.http_function("auth-validate", handler, settings=lambda: _settings(**settings))
    app = flask.Flask("unit")
    app.add_url_rule("/<path:path>", "entry", lambda path: entry(flask.request), methods=["GET", "POST", "OPTIONS"])
    return app.test_client()


def _echo(request: khttp.ApiRequest) -> flask.Response:
    body = request.json(Body)
    return khttp.json_response({"name": body.name, "count": body.count})


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["requestId"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.get_data(as_text=True)
    return dict(error)


def test_valid_body_reaches_the_handler(log_stream: io.StringIO) -> None:
    response = _client(_echo).post("/auth/validate", json={"name": "a", "count": 2})
    assert response.status_code == 200
    assert response.get_json() == {"name": "a", "count": 2}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"data": "{not json", "content_type": "application/json"}, "Malformed JSON at line 1"),
        ({"json": {"name": "a", "count": "many"}}, "count"),
        ({"json": {"name": "a"}}, "count: required field is missing"),
        ({"json": {"name": "a", "count": 1, "colour": "red"}}, "colour: unknown field"),
        ({"json": {"name": "a", "count": 1, "nested": {"x": "y"}}}, "nested.x"),
        ({"json": [1, 2]}, "must be a JSON object"),
        ({"data": "", "content_type": "application/json"}, "empty"),
        ({"data": "name=a", "content_type": "application/x-www-form-urlencoded"}, "Content-Type must be"),
        ({"data": json.dumps({"name": "x" * 5000, "count": 1}), "content_type": "application/json"}, "limit"),
        ({"data": b"\xff\xfe{", "content_type": "application/json"}, "UTF-8"),
        ({"data": '{"name": "a"}'.encode("utf-16"), "content_type": "application/json"}, "UTF-8"),
        ({"data": "[" * 1000 + "]" * 1000, "content_type": "application/json"}, "nested too deeply"),
        ({"data": '{"name": "a", "count": NaN}', "content_type": "application/json"}, "NaN"),
        ({"data": '{"name": "\\ud800", "count": 1}', "content_type": "application/json"}, "surrogate"),
        ({"json": {"name": "a", "count": 1}, "headers": {"Content-Encoding": "gzip"}}, "Content-Encoding"),
    ],
)
def test_bad_bodies_are_400_naming_the_problem(kwargs: dict[str, Any], fragment: str, log_stream: io.StringIO
                                               ) -> None:
    error = _error(_client(_echo).post("/auth/validate", **kwargs), 400, "REQUEST_INVALID")
    assert fragment in error["message"]


def test_request_id_is_honoured_when_sane_and_generated_otherwise(log_stream: io.StringIO) -> None:
    client = _client(_echo)
    sane = client.post("/auth/validate", json={"name": "a", "count": 1}, headers={"X-Request-ID": "req-12345678"})
    assert sane.headers["X-Request-ID"] == "req-12345678"
    insane = client.post("/auth/validate", json={}, headers={"X-Request-ID": "<script>"})
    assert client.post("/auth/validate", json={}, headers={"X-Request-ID": "x" * 200}).headers["X-Request-ID"] != \
        "x" * 200
    assert insane.headers["X-Request-ID"] != "<script>"
    assert len(insane.headers["X-Request-ID"]) == 32
    assert insane.get_json()["error"]["requestId"] == insane.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/auth/validate", {"Accept-Version": "v2"}, 400, "API_VERSION_UNSUPPORTED"),
        ("/auth/validate", {"Accept-Version": "v1"}, 200, None),
        ("/nowhere", {}, 404, "ROUTE_NOT_FOUND"),
    ],
)
def test_versions_and_routes(path: str, headers: dict[str, str], status: int, code: str | None,
                             log_stream: io.StringIO) -> None:
    response = _client(_echo).post(path, json={"name": "a", "count": 1}, headers=headers)
    if code:
        _error(response, status, code)
    else:
        assert response.status_code == status


def test_wrong_method_is_405_with_allow(log_stream: io.StringIO) -> None:
    response = _client(_echo).get("/auth/validate")
    _error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "POST"


def test_path_and_header_versions_checked_together() -> None:
    khttp.check_version("v1", "v1")
    khttp.check_version(None, None)
    for path_version, header in (("v2", None), (None, "v9"), ("v1", "v2")):
        with pytest.raises(KstreamError) as caught:
            khttp.check_version(path_version, header)
        assert caught.value.code == "API_VERSION_UNSUPPORTED"


def test_domain_errors_keep_their_code_and_status(log_stream: io.StringIO) -> None:
    def handler(_request: khttp.ApiRequest) -> flask.Response:
        raise NotFound("no such video", code=khttp.ErrorCode.STREAM_VIDEO_NOT_FOUND, details={"videoId": "v"})

    error = _error(_client(handler).post("/auth/validate"), 404, "STREAM_VIDEO_NOT_FOUND")
    assert error["details"] == {"videoId": "v"}


def test_unexpected_errors_are_500_without_internals_unless_debug(log_stream: io.StringIO) -> None:
    def handler(_request: khttp.ApiRequest) -> flask.Response:
        raise ZeroDivisionError("secret internals")

    quiet = _client(handler).post("/auth/validate")
    error = _error(quiet, 500, "SYSTEM_ERROR")
    assert "secret internals" not in quiet.get_data(as_text=True)
    assert "details" not in error
    loud = _error(_client(handler, debug=True).post("/auth/validate"), 500, "SYSTEM_ERROR")
    assert "ZeroDivisionError" in loud["details"]["exception"]
    assert "Traceback" in log_stream.getvalue()  # the whole story goes to the log, not the client


def test_one_structured_log_line_per_request_without_secrets(log_stream: io.StringIO) -> None:
    _client(_echo).post(
        "/auth/validate?token=abc123&page=2",
        json={"name": "a", "count": 1},
        headers={
            "Authorization": "Bearer very-secret-token",
            "User-Agent": "unit-agent",
            "X-Request-ID": "req-abcdefgh",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
        },
    )
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["severity"] == "INFO"
    assert entry["requestId"] == "req-abcdefgh"
    assert entry["logging.googleapis.com/trace"] == "projects/demo-unit/traces/0af7651916cd43dd8448eb211c80319c"
    assert entry["logging.googleapis.com/spanId"] == "b7ad6b7169203331"
    http = entry["httpRequest"]
    assert http["requestMethod"] == "POST"
    assert http["status"] == 200
    assert http["userAgent"] == "unit-agent"
    assert http["remoteIp"] == "203.0.113.9"
    assert http["latency"].endswith("s") and float(http["latency"][:-1]) >= 0
    assert "token=REDACTED" in http["requestUrl"] and "page=2" in http["requestUrl"]
    assert entry["route"] == "/auth/validate"
    assert "very-secret-token" not in log_stream.getvalue()
    assert "abc123" not in log_stream.getvalue()


def test_cors_preflight_is_answered(log_stream: io.StringIO) -> None:
    response = _client(_echo).options("/auth/validate")
    assert response.status_code == 204
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize(
    ("cloud", "traceparent", "expected"),
    [
        ("105445aa7843bc8bf206b12000100000/1;o=1", None, ("105445aa7843bc8bf206b12000100000", "0000000000000001")),
        (None, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
         ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")),
        ("garbage", "also-garbage", None),
        (None, None, None),
    ],
)
def test_trace_context_parsing(cloud: str | None, traceparent: str | None, expected: tuple[str, str] | None) -> None:
    assert parse_trace(cloud, traceparent) == expected


def test_redaction_keeps_harmless_query_values() -> None:
    assert redact_url("http://h/p?X-Goog-Signature=abc&q=drama") == "http://h/p?X-Goog-Signature=REDACTED&q=drama"
    assert redact_url("http://h/p") == "http://h/p"


def test_redaction_of_an_unparsable_url_drops_its_query() -> None:
    """A garbage Host header makes the logged URL unparsable; it must neither raise nor leak the query."""
    assert redact_url("http://[garbage/p?token=secret") == "http://[garbage/p?REDACTED"
    assert redact_url("http://[garbage/p") == "http://[garbage/p"
