"""The spec's edges a client written from the spec alone relies on (issue 13): a hidden video is the same 404 as a
missing one, /auth/validate errors match the OpenAPI document, request logs name the user on errors, the request
metric is the spec's http_request_duration_seconds (locally and in Terraform), and local ID-token claims are checked
as the cloud checks them."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import flask
import hcl2
import jsonschema
import pytest
import yaml
from kstream import http as khttp
from kstream import observability
from kstream.adapters import firebase_auth
from kstream.catalog.visibility import Viewer
from kstream.errors import ErrorCode, InvalidToken, NotFound
from kstream.observability import REQUEST_DURATION_METRIC, RequestDurations, StructuredLogger
from kstream.settings import Settings
from kstream.streaming.access import check_can_stream

from contracts.openapi import build_document

REPO = Path(__file__).resolve().parents[2]
PROJECT = "demo-unit"


# ------------------------------------------------------------------------------------- the same 404 everywhere
def _doc(status: str, uploader: str = "u-owner") -> dict[str, Any]:
    return {"id": "ep1", "status": status, "uploaderId": uploader}


@pytest.mark.parametrize(("scope", "uid", "status"), [("user", "u-1", "failed"), ("user", "u-1", "processing"),
                                                      ("uploader", "u-1", "failed"),
                                                      ("uploader", "u-1", "processing")])
def test_a_video_hidden_from_the_caller_is_the_404_of_a_missing_one(scope: str, uid: str, status: str) -> None:
    viewer = Viewer(scope=scope, id=uid)
    with pytest.raises(NotFound) as hidden:
        check_can_stream(viewer, _doc(status), "ep1")
    with pytest.raises(NotFound) as missing:
        check_can_stream(viewer, None, "ep1")
    assert (hidden.value.status, hidden.value.code, hidden.value.message, hidden.value.details) == \
        (missing.value.status, missing.value.code, missing.value.message, missing.value.details)


def test_the_owner_still_learns_why_their_own_video_does_not_play_yet() -> None:
    with pytest.raises(Exception) as raised:
        check_can_stream(Viewer(scope="uploader", id="u-owner"), _doc("processing"), "ep1")
    assert getattr(raised.value, "status", None) == 403 and raised.value.details["status"] == "processing"


# ------------------------------------------------------------------------------- functions and their logs
@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr(observability, "_process_logger", StructuredLogger(PROJECT, "DEBUG", stream))
    return stream


@pytest.fixture
def trusted_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any bearer JWT verifies to the claims in its payload (verification itself is tested elsewhere)."""
    monkeypatch.setattr(firebase_auth, "verify_id_token", lambda token, settings: firebase_auth.unverified_claims(
        token))


def _token(**claims: Any) -> str:
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'iss': f'https://securetoken.google.com/{PROJECT}', **claims})}.sig"


def _client(name: str, handler: Any) -> flask.testing.FlaskClient:
    entry = khttp.http_function(name, handler, settings=lambda: Settings(project_id=PROJECT))
    app = flask.Flask("unit")
    app.add_url_rule("/<path:path>", "entry", lambda path: entry(flask.request),
                     methods=["GET", "POST", "PUT", "DELETE"])
    return app.test_client()


def _not_found(request: khttp.ApiRequest) -> flask.Response:
    raise NotFound("No video 'x'", code=ErrorCode.STREAM_VIDEO_NOT_FOUND)


def _log_line(stream: io.StringIO) -> dict[str, Any]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return next(line for line in reversed(lines) if "httpRequest" in line)


def test_a_signed_in_viewers_404_is_logged_with_their_user_id(log_stream: io.StringIO, trusted_tokens: None
                                                              ) -> None:
    response = _client("video-get", _not_found).get(
        "/api/videos/x", headers={"Authorization": f"Bearer {_token(sub='viewer-7', role='user')}"})
    assert response.status_code == 404
    line = _log_line(log_stream)
    assert (line["userId"], line["httpRequest"]["status"], line["errorCode"]) == ("viewer-7", 404,
                                                                                 "STREAM_VIDEO_NOT_FOUND")


def test_a_signed_in_viewers_403_is_logged_with_their_user_id(log_stream: io.StringIO, trusted_tokens: None
                                                              ) -> None:
    response = _client("upload-start", _not_found).post(
        "/api/upload/start", json={}, headers={"Authorization": f"Bearer {_token(sub='viewer-8', role='user')}"})
    assert response.status_code == 403
    assert _log_line(log_stream)["userId"] == "viewer-8"


def test_an_auth_validate_refusal_is_logged_with_the_user_id(log_stream: io.StringIO, trusted_tokens: None) -> None:
    from kstream.api.auth_validate import validate_token

    response = _client("auth-validate", validate_token).post(
        "/auth/validate", headers={"Authorization": f"Bearer {_token(sub='viewer-9', role='user')}",
                                   "X-Original-URI": "/api/upload/start", "X-Original-Method": "POST"})
    assert response.status_code == 403
    assert _log_line(log_stream)["userId"] == "viewer-9"


# ----------------------------------------------------------------------- /auth/validate errors in the spec
def _schema_of(document: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    ref = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    return {**ref, "components": document["components"]}


@pytest.mark.parametrize(("headers", "status"), [({}, "401"), ({"X-Original-URI": "/api/upload/start"}, "403")])
def test_auth_validate_error_bodies_validate_against_the_openapi_document(
        headers: dict[str, str], status: str, log_stream: io.StringIO, trusted_tokens: None) -> None:
    from kstream.api.auth_validate import validate_token

    if status == "403":
        headers = {**headers, "Authorization": f"Bearer {_token(sub='viewer-1', role='user')}"}
    response = _client("auth-validate", validate_token).post("/auth/validate", headers=headers)
    assert str(response.status_code) == status
    body = response.get_json()
    assert body["valid"] is False and body["error"]["code"]
    committed = yaml.safe_load((REPO / "contracts" / "openapi.yaml").read_text(encoding="utf-8"))
    assert committed == build_document()
    jsonschema.validate(body, _schema_of(committed, "/auth/validate", "post", status))


# ------------------------------------------------------------------------- http_request_duration_seconds
def test_the_local_histogram_has_the_specs_name_and_labels() -> None:
    durations = RequestDurations()
    durations.observe("/api/videos/{videoId}", "GET", 404, 0.02)
    text = durations.render()
    assert f"# TYPE {REQUEST_DURATION_METRIC} histogram" in text
    assert ('http_request_duration_seconds_count{method="GET",route="/api/videos/{videoId}",status_code="404"} 1'
            in text)
    assert 'http_request_duration_seconds_bucket{method="GET",route="/api/videos/{videoId}",status_code="404",' \
           'le="0.025"} 1' in text


def test_the_cloud_metric_has_the_specs_name_and_reads_its_labels_from_the_request_line(
        log_stream: io.StringIO, trusted_tokens: None) -> None:
    path = REPO / "terraform" / "modules" / "observability" / "metrics.tf"
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    resources = hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=options)["resource"]
    metrics = {name: body for block in resources for kind, named in block.items() if kind == "google_logging_metric"
               for name, body in named.items()}
    metric = metrics["http_request_duration_seconds"]
    assert metric["name"].endswith("/http_request_duration_seconds")
    descriptor = metric["metric_descriptor"]
    descriptor = descriptor[0] if isinstance(descriptor, list) else descriptor
    assert [label["key"] for label in descriptor["labels"]] == ["method", "route", "status_code"]
    assert metric["label_extractors"] == {"method": "EXTRACT(${local.http}.requestMethod)",
                                          "route": "EXTRACT(jsonPayload.route)",
                                          "status_code": "EXTRACT(${local.http}.status)"}
    _client("video-get", _not_found).get("/api/videos/x",
                                         headers={"Authorization": f"Bearer {_token(sub='v', role='user')}"})
    line = _log_line(log_stream)  # what the extractors read, as the request line writes it
    assert (line["httpRequest"]["requestMethod"], line["route"], line["httpRequest"]["status"]) == \
        ("GET", "/api/videos/{videoId}", 404)


# --------------------------------------------------------------------- ID-token claims checked locally too
def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"aud": PROJECT, "iss": f"https://securetoken.google.com/{PROJECT}", "sub": "u", "iat": now - 10,
              "exp": now + 3600, "auth_time": now - 10}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


AHEAD = time.time() + 365 * 86400  # far ahead: parameters are made at collection, minutes before the test runs


@pytest.mark.parametrize("changes", [
    {"exp": int(time.time()) - 1}, {"exp": None}, {"exp": "soon"}, {"exp": float("nan")}, {"iat": AHEAD},
    {"nbf": AHEAD}, {"auth_time": AHEAD}, {"aud": "demo-other"}, {"aud": None},
    {"iss": "https://securetoken.google.com/demo-other"}, {"exp": True},
], ids=["expired", "no exp", "exp text", "exp NaN", "iat ahead", "nbf ahead", "auth_time ahead", "other aud",
        "no aud", "other iss", "exp boolean"])
def test_claims_the_cloud_refuses_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        firebase_auth.check_claims(_claims(**changes), PROJECT, time.time())


def test_valid_claims_pass() -> None:
    firebase_auth.check_claims(_claims(nbf=int(time.time()) - 5), PROJECT, time.time())
