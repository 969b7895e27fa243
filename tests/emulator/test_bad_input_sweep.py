"""Bad input anywhere gets the spec's error envelope: a table-driven sweep over every function of functions.yaml.

HTTP functions are called through the local gateway with malformed, mistyped, oversized and unauthorised requests;
every answer must be a 4xx (405/413/429 included) in the envelope, with a code of contracts/errors.py whose status
is the answer's, a JSON content type, the X-Request-ID of the body in the header, and no stack trace. Event
functions get malformed CloudEvents straight on the functions host (binary mode, as the event bridge delivers them)
and malformed Pub/Sub pushes through the bridge: each must be acknowledged (2xx), logged with a reason when
rejected, and leave the videos collection as it was.

The cases derive from the function list and the contracts (contracts/endpoints.py: request body and query models),
so a new function is swept without touching this file; only a function with a request body needs a sample body in
SAMPLE_BODIES (the test says so). Requests run a few at a time on one session.

Odd text goes into every string field of every body and query model and into every path parameter: control and
format characters (C0 including U+001C-U+001F, C1, U+2028/2029, bidi controls, zero-width) must be a 4xx naming the
field where the text rule (contracts/text.py) applies; full-width letters and combining Hangul jamo, which the rule
accepts, may succeed but never end in a 5xx. And what upload/start accepts, upload/complete completes.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import quote, urlencode

import pytest
import requests
from kstream import auth
from kstream.registry import FunctionSpec, function_list
from kstream.settings import Settings
from pydantic import BaseModel

from contracts.endpoints import ENDPOINTS
from contracts.envelope import ErrorBody
from contracts.errors import HTTP_STATUS, ErrorCode
from local_emulator import eventarc, keys
from local_emulator.stack import StackConfig
from tests.helpers import token_for

FUNCTIONS = function_list()
HTTP_FUNCTIONS = [spec.name for spec in FUNCTIONS.http_functions]
EVENT_FUNCTIONS = [spec.name for spec in FUNCTIONS.event_functions]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
TRACE_MARKERS = ("Traceback", 'File "', "Exception")
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{8,128}")
GARBAGE_REQUEST_ID = "not a sane id <script>"
WORKERS = 4

# A structurally valid body per function that takes one: the base of the unknown-field case, and the body sent with
# path-parameter cases so the bad parameter (not the body) is what the function meets. Never valid enough to act.
SAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "upload-start": {"filename": "sweep.mp4", "totalSize": 1024, "metadata": {"title": "t", "series": "s",
                                                                             "episode": 1}},
    "upload-complete": {"finalChecksum": "0" * 32},
    "transcode-start": {"videoId": "sweep-video", "sourcePath": "gs://sweep-no-such-bucket/sources/x.mp4"},
    "metadata-upsert": {"videoId": "sweep-video", "title": "t", "series": "s", "episode": 1, "description": "",
                        "duration": 1.0, "fileSize": 1, "uploaderId": "u", "uploaderUsername": "u",
                        "availableQualities": ["360p"], "thumbnailUrl": "", "language": "ko"},
    "subtitle-put": {"fileName": "sweep.srt", "content": "", "label": "Sweep"},  # no such video: never stored
}


# ============================================================================================= HTTP: the cases
@dataclass
class Case:
    label: str
    method: str
    path: str  # with its query string
    token: str | None = None  # a role of tests.helpers.token_for, or None for no Authorization header
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # bytes, or an iterator of bytes (sent chunked, without Content-Length)
    statuses: tuple[int, ...] = ()  # empty: any 4xx
    code: ErrorCode | None = None
    check: Any = None  # an extra check of the error body: callable(error) -> str | None (a complaint)
    success_ok: bool = False  # odd but valid input: a 2xx is as good as a 4xx; a 5xx never is


def role_for(spec: FunctionSpec) -> str:
    """The weakest role that passes the function's access rule (public functions still get a user token)."""
    if spec.access == "service":
        return "service"
    for role, permissions in auth.ROLE_PERMISSIONS.items():
        if spec.permission is None or spec.permission in permissions:
            return role
    raise AssertionError(f"no role grants {spec.permission}")


def concrete(spec: FunctionSpec, params: dict[str, str] | None = None, version: str | None = None) -> str:
    """The function's path with sample (or given, already URL-encoded) parameters, optionally versioned."""
    assert spec.http is not None
    path = spec.http.path
    for name in re.findall(r"\{(\w+)\}", path):
        path = path.replace("{" + name + "}", (params or {}).get(name, "0" if name.endswith("Index") else
                                                                    f"sweep-{name}"))
    if version and path.startswith("/api/"):
        path = f"/api/{version}{path[len('/api'):]}"
    return path


def json_body(value: Any) -> tuple[dict[str, str], bytes]:
    return {"Content-Type": "application/json"}, value if isinstance(value, bytes) else json.dumps(value).encode()


def names_fields(*names: str, problem: str | None = None) -> Any:
    def check(error: dict[str, Any]) -> str | None:
        found = {(f.get("field"), f.get("problem")) for f in (error.get("details") or {}).get("fields", [])}
        missing = [n for n in names if not any(f == n and (problem is None or p == problem) for f, p in found)]
        return f"details.fields do not name {missing}: {sorted(found)[:8]}" if missing else None
    return check


def auth_cases(spec: FunctionSpec, cfg: StackConfig) -> list[Case]:
    assert spec.http is not None
    path, method = concrete(spec), spec.http.method
    bad = {
        "no Authorization": None,
        "empty bearer": "Bearer ",
        "garbage bearer": "Bearer garbage",
        "basic scheme": "Basic dXNlcjpwYXNz",
        "three garbage parts": "Bearer a.b.c",
        "not base64 parts": "Bearer !!!.@@@.###",
        "JSON list parts": "Bearer WzFd.WzFd.c2ln",
        "9 KiB token": "Bearer " + "eyJ" * 3000 + ".e30.c2ln",
        "a deeply nested payload": "Bearer e30." + base64.urlsafe_b64encode(b"[" * 2500 + b"]" * 2500).decode()
        + ".c2ln",
        "expired ID token": "Bearer " + expired_user_token(cfg),
        "expired service token": "Bearer " + expired_service_token(cfg),
    }
    cases = [Case(f"auth: {label}", method, path, None,
                  {"Authorization": value, "X-Request-ID": GARBAGE_REQUEST_ID} if value else {},
                  statuses=(401,), code=ErrorCode.AUTH_INVALID_TOKEN) for label, value in bad.items()]
    cases.append(Case("auth: none, behind a garbage Host header", method, path, None,
                      {"Host": "[garbage", "X-Forwarded-Host": "[::1"}, statuses=(401,),
                      code=ErrorCode.AUTH_INVALID_TOKEN))
    if spec.access == "service" or (spec.permission and spec.permission not in auth.ROLE_PERMISSIONS["user"]):
        cases.append(Case("auth: a user token where it is not enough", method, path, "user",
                          statuses=(403,), code=ErrorCode.AUTH_INSUFFICIENT_PERMISSIONS))
    return cases


def method_cases(spec: FunctionSpec) -> list[Case]:
    assert spec.http is not None
    allowed = {spec.http.method, "HEAD"} if spec.http.method == "GET" else {spec.http.method}
    served = {method for method in METHODS if FUNCTIONS.match(concrete(spec), method)}  # other functions' routes
    return [Case(f"method: {method}", method, concrete(spec), role_for(spec), statuses=(405,),
                 code=ErrorCode.METHOD_NOT_ALLOWED) for method in METHODS if method not in allowed | served]


def version_cases(spec: FunctionSpec) -> list[Case]:
    assert spec.http is not None
    headers, body = _body_for(spec)
    cases = [Case("version: Accept-Version v2", spec.http.method, concrete(spec), role_for(spec),
                  {**headers, "Accept-Version": "v2"}, body),
             Case("version: Accept-Version of 3 KiB", spec.http.method, concrete(spec), role_for(spec),
                  {**headers, "Accept-Version": "x" * 3000}, body)]
    if spec.http.path.startswith("/api/"):
        cases += [Case(f"version: {v} in the path", spec.http.method, concrete(spec, version=v), role_for(spec),
                       headers, body) for v in ("v2", "v0", "v99999999999999999999")]
        cases.append(Case("version: v1 path, v2 header", spec.http.method, concrete(spec, version="v1"),
                          role_for(spec), {**headers, "Accept-Version": "v2"}, body))
    for case in cases:
        case.statuses, case.code = (400,), ErrorCode.API_VERSION_UNSUPPORTED
    return cases


def _body_for(spec: FunctionSpec) -> tuple[dict[str, str], bytes | None]:
    """What a request of this function carries when the case is not about its body."""
    endpoint = ENDPOINTS[spec.name]
    if endpoint.request is not None:
        assert spec.name in SAMPLE_BODIES, f"add a sample body of {spec.name} to SAMPLE_BODIES"
        return json_body(SAMPLE_BODIES[spec.name])
    if spec.http and spec.http.method in ("POST", "PUT", "PATCH"):
        return {"Content-Type": "application/octet-stream"}, b"x"
    return {}, None


PATH_VALUES = {
    "NUL and control characters": "a%00b%01%1Fc",
    "DEL": "a%7F",
    "a newline": "a%0Ab",
    "a percent-encoded slash": "a%2Fb",
    "a dot segment": "..",
    "a bad percent escape": "a%ZZ",
    "bytes that are not UTF-8": "%FF%FE",
    "10 KiB": "p" * 10 * 1024,
}


def path_cases(spec: FunctionSpec) -> list[Case]:
    assert spec.http is not None
    headers, body = _body_for(spec)
    return [Case(f"path: {{{name}}} with {label}", spec.http.method, concrete(spec, {name: value}), role_for(spec),
                 headers, body)
            for name in re.findall(r"\{(\w+)\}", spec.http.path) for label, value in PATH_VALUES.items()]


def _unoptional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):  # X | None
        return next(option for option in get_args(annotation) if option is not type(None))
    return annotation


def _wrong_type(annotation: Any) -> Any:
    kind = _unoptional(annotation)
    if get_origin(kind) is list:
        return "not a list"
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return ["not", "an", "object"]
    return {"wrong": ["type"]}


def body_cases(spec: FunctionSpec, limit: int) -> list[Case]:
    assert spec.http is not None
    model = ENDPOINTS[spec.name].request
    if model is None:
        return []
    sample = SAMPLE_BODIES[spec.name]
    text_field = next(key for key, value in sample.items() if isinstance(value, str))
    invalid = (400,)
    raw: dict[str, bytes] = {
        "malformed JSON": b'{"a": ',
        "a JSON array": b"[1, 2]",
        "a JSON string": b'"text"',
        "a JSON number": b"42",
        "JSON null": b"null",
        "an empty body": b"",
        "whitespace only": b"  \n ",
        "not UTF-8": b'{"a": "\xff\xfe"}',
        "UTF-16": json.dumps(sample).encode("utf-16"),
        "NaN": b'{"a": NaN}',
        "Infinity": b'{"a": -Infinity}',
        "a lone surrogate escape": json.dumps({**sample, text_field: "\ud800"}).encode(),  # ASCII: "\\ud800"
        "nesting 20000 deep": b"[" * 20000 + b"]" * 20000,
        "trailing garbage": json.dumps(sample).encode() + b" }",
    }
    cases = [Case(f"body: {label}", spec.http.method, concrete(spec), role_for(spec), *json_body(value),
                  statuses=invalid, code=ErrorCode.REQUEST_INVALID) for label, value in raw.items()]
    fields = list(model.model_fields)
    cases += [
        Case("body: every field of the wrong type", spec.http.method, concrete(spec), role_for(spec),
             *json_body({name: _wrong_type(info.annotation) for name, info in model.model_fields.items()}),
             statuses=invalid, code=ErrorCode.REQUEST_INVALID, check=names_fields(*fields)),
        Case("body: an unknown field", spec.http.method, concrete(spec), role_for(spec),
             *json_body({**sample, "sweepUnknownField": 1}), statuses=invalid, code=ErrorCode.REQUEST_INVALID,
             check=names_fields("sweepUnknownField", problem="unknown field")),
        Case("body: over the limit", spec.http.method, concrete(spec), role_for(spec),
             *json_body({**sample, "pad": "x" * (limit + 1024)}), statuses=(400, 413)),
        Case("body: over the limit, chunked", spec.http.method, concrete(spec), role_for(spec),
             {"Content-Type": "application/json"}, iter([b'{"pad": "', b"x" * (limit + 1024), b'"}']),
             statuses=(400, 413)),
        Case("body: gzip Content-Encoding", spec.http.method, concrete(spec), role_for(spec),
             {"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"\x1f\x8b not gzip at all",
             statuses=invalid),
    ]
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
                         "application/jsonx"):
        cases.append(Case(f"body: Content-Type {content_type}", spec.http.method, concrete(spec), role_for(spec),
                          {"Content-Type": content_type} if content_type else {},
                          json.dumps(sample).encode(), statuses=invalid, code=ErrorCode.REQUEST_INVALID))
    return cases


def _query_values(name: str, info: Any) -> list[str]:
    kind = _unoptional(info.annotation)
    if get_origin(kind) is Literal:
        return ["bogus-value", ""]
    if kind is int:
        return ["-1", str(10**30), "abc", "1.5", ""]
    values: list[str] = []
    if name.endswith("Token"):
        values += ["garbage!", base64.urlsafe_b64encode(b'{"x": 1}').decode(), "e30"]
    longest = next((m.max_length for m in info.metadata if getattr(m, "max_length", None)), None)
    if longest:
        values.append("x" * (longest + 1))
    return values


def query_cases(spec: FunctionSpec) -> list[Case]:
    model: type[BaseModel] | None = ENDPOINTS[spec.name].query
    if model is None:
        return []
    base = concrete(spec)
    first = next(iter(model.model_fields))
    cases = [Case("query: an unknown parameter", "GET", f"{base}?sweepUnknown=1", role_for(spec)),
             Case(f"query: {first} given twice", "GET", f"{base}?{first}=a&{first}=b", role_for(spec))]
    for name, info in model.model_fields.items():
        cases += [Case(f"query: {name}={value[:20]!r}", "GET", f"{base}?{name}={value}", role_for(spec))
                  for value in _query_values(name, info)]
    for case in cases:
        case.statuses, case.code = (400,), ErrorCode.REQUEST_INVALID
    return cases


REFUSED_TEXT = {
    "NUL inside": "a\x00b",
    "ESC inside": "a\x1bb",
    "DEL inside": "a\x7fb",
    "C1 NEL inside": "a\x85b",
    "C1 CSI inside": "a\x9bb",
    "U+2028 inside": "a\u2028b",
    "U+2029 inside": "a\u2029b",
    "bidi override RLO": "a\u202eb",
    "bidi isolate RLI..PDI": "a\u2067b\u2069c",
    "LRM": "a\u200eb",
    "zero-width space": "a\u200bb",
    "word joiner": "a\u2060b",
    "BOM first": "\ufeffab",
    "a lone zero-width joiner": "\u200d",
}
ODD_TEXT = {  # accepted (a field that must not be empty refuses the first two, as empty, naming the field)
    "only U+001C": "\x1c",
    "only U+001C-U+001F": "\x1c\x1d\x1e\x1f",
    "full-width letters": "ＫＤＲＡＭＡ　１",
    "combining Hangul jamo": "\u1112\u1161\u11ab\u1100\u116e\u11a8",  # 한국 typed as six jamo
    "a word between U+001C and U+001F": "\x1c드라마\x1f",
}


def _min_length(annotation: Any) -> int:
    """The largest minimum length declared anywhere in a field's type (0 when none)."""
    found = [getattr(meta, "min_length", None) for meta in getattr(annotation, "__metadata__", ())]
    found += [getattr(inner, "min_length", None) for meta in getattr(annotation, "__metadata__", ())
              for inner in getattr(meta, "metadata", ())]
    nested = [_min_length(arg) for arg in get_args(annotation)]
    return max([value for value in found if isinstance(value, int)] + nested + [0])


def _has_text_rule(annotation: Any) -> bool:
    """Whether a field's type carries the text rule (an AfterValidator from contracts/text.py)."""
    for meta in getattr(annotation, "__metadata__", ()):
        if getattr(getattr(meta, "func", None), "__module__", "") == "contracts.text":
            return True
    return any(_has_text_rule(arg) for arg in get_args(annotation))


def string_fields(model: type[BaseModel], sample: dict[str, Any], prefix: str = ""
                  ) -> list[tuple[str, bool, bool, bool]]:
    """(dotted path, is a list of strings, under the text rule, never empty) of every string field reachable
    from ``sample``: nested models only where the sample has them, so a case never makes a body valid enough to
    act. Text that trims to nothing is refused, naming the field, only where the field must not be empty."""
    found = []
    for name, info in model.model_fields.items():
        kind = _unoptional(info.annotation)
        inner = get_args(kind)[0] if get_origin(kind) is list else kind
        base = getattr(inner, "__origin__", inner)  # Annotated[str, ...] -> str
        if isinstance(base, type) and issubclass(base, BaseModel):
            if isinstance(sample.get(name), dict):
                found += string_fields(base, sample[name], f"{prefix}{name}.")
        elif base is str:
            ruled = _has_text_rule(info.annotation) or any(
                getattr(getattr(m, "func", None), "__module__", "") == "contracts.text" for m in info.metadata)
            least = max(_min_length(info.annotation), *[getattr(m, "min_length", 0) or 0 for m in info.metadata], 0)
            found.append((f"{prefix}{name}", get_origin(kind) is list, ruled, least > 0))
    return found


def _with(sample: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    if rest:
        return {**sample, head: _with(dict(sample.get(head) or {}), rest, value)}
    return {**sample, head: value}


def text_cases(spec: FunctionSpec) -> list[Case]:
    """Refused and odd text in every string field of the body and query, and in every path parameter."""
    assert spec.http is not None
    endpoint, cases = ENDPOINTS[spec.name], []
    role = role_for(spec)
    if endpoint.request is not None:
        sample = SAMPLE_BODIES[spec.name]
        for path, is_list, ruled, nonempty in string_fields(endpoint.request, sample):
            for label, value in {**REFUSED_TEXT, **ODD_TEXT}.items():
                odd = label in ODD_TEXT
                shown = value if not path.endswith(("filename", "fileName")) else f"x{value}.mp4"
                body = _with(sample, path, [shown] if is_list else shown)
                # Accepted text really starts uploads: each such case signs in a user of its own (10 starts/hour).
                token = f"odd-{spec.name}-{path}-{label}" if odd and spec.name == "upload-start" else role
                cases.append(Case(f"text: {path} with {label}", spec.http.method, concrete(spec), token,
                                  *json_body(body), success_ok=odd,
                                  check=names_fields(path if not is_list else f"{path}.0") if ruled and (
                                      not odd or (label.startswith("only") and nonempty)) else None))
    if endpoint.query is not None:
        for path, _, ruled, nonempty in string_fields(endpoint.query, {}):
            for label, value in {**REFUSED_TEXT, **ODD_TEXT}.items():
                odd = label in ODD_TEXT
                cases.append(Case(f"text: ?{path} with {label}", "GET", f"{concrete(spec)}?{urlencode({path: value})}",
                                  role, success_ok=odd, check=names_fields(path) if ruled and (
                                      not odd or (label.startswith("only") and nonempty)) else None))
    headers, body = _body_for(spec)
    for name in re.findall(r"\{(\w+)\}", spec.http.path):
        for label, value in {**REFUSED_TEXT, **ODD_TEXT}.items():
            encoded = quote(value.encode("utf-8"), safe="")
            cases.append(Case(f"text: {{{name}}} with {label}", spec.http.method, concrete(spec, {name: encoded}),
                              role, headers, body, success_ok=label in ODD_TEXT))
    return cases


def extra_cases(spec: FunctionSpec, session: dict[str, Any]) -> list[Case]:
    """Inputs only one function reads: the X-Original-URI of auth-validate, the raw chunk body of upload-chunk."""
    if spec.name == "auth-validate":
        path = concrete(spec)
        return [Case(f"X-Original-URI {label}", "POST", path, "user", {"X-Original-URI": uri, **more},
                     statuses=(400, 403))
                for label, uri, more in [("unparsable", "http://[::1", {}), ("a bare %", "%", {}),
                                         ("of no endpoint", "/api/sweep/nothing", {}),
                                         ("with an unknown method", "/api/videos/x", {"X-Original-Method": "BREW"})]]
    if spec.name == "upload-chunk":
        upload_id, size = session["uploadId"], session["chunkSize"]
        path = concrete(spec, {"uploadId": upload_id})
        octet = {"Content-Type": "application/octet-stream"}
        return [
            Case("chunk: one byte over its size", "POST", path, "uploader-sweep", octet, b"\0" * (size + 1),
                 statuses=(400, 413)),
            Case("chunk: text/plain", "POST", path, "uploader-sweep", {"Content-Type": "text/plain"}, b"x",
                 statuses=(400,), code=ErrorCode.REQUEST_INVALID),
            Case("chunk: multipart without the chunk field", "POST", path, "uploader-sweep",
                 {"Content-Type": "multipart/form-data; boundary=b"},
                 b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n', statuses=(400,)),
            Case("chunk: broken multipart", "POST", path, "uploader-sweep",
                 {"Content-Type": "multipart/form-data; boundary=b"}, b"--b\r\ngarbage", statuses=(400,)),
            *[Case(f"chunk: index {index}", "POST", concrete(spec, {"uploadId": upload_id, "chunkIndex": index}),
                   "uploader-sweep", octet, b"x") for index in ("-1", "99999", "1e3", "abc", str(10**30))],
        ]
    return []


def cases_for(spec: FunctionSpec, cfg: StackConfig, body_limit: int, session: dict[str, Any]) -> list[Case]:
    return [*auth_cases(spec, cfg), *method_cases(spec), *version_cases(spec), *path_cases(spec),
            *body_cases(spec, body_limit), *query_cases(spec), *text_cases(spec), *extra_cases(spec, session)]


# ========================================================================================= HTTP: the checks
def expired_user_token(cfg: StackConfig) -> str:
    """A real Auth-emulator ID token with its times moved an hour into the past (the emulator does not sign)."""
    header, payload, signature = token_for(cfg, "user").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(iat=claims["iat"] - 7200, auth_time=claims.get("auth_time", claims["iat"]) - 7200,
                  exp=claims["iat"] - 3600)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{encoded}.{signature}"


def expired_service_token(cfg: StackConfig) -> str:
    info = json.loads(cfg.signing_key_file.read_text())
    return keys.mint_service_token(info, issuer=cfg.oidc_issuer, audience=cfg.gateway_url,
                                   email=cfg.pipeline_service_email, lifetime_seconds=-3600)


def complaint(case: Case, response: requests.Response) -> str | None:
    """What is wrong with the answer to a bad request, or None."""
    text = response.text
    if case.success_ok and 200 <= response.status_code < 300:
        return None
    if case.statuses and response.status_code not in case.statuses:
        return f"status {response.status_code}, expected {case.statuses}: {text[:200]}"
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}, expected a 4xx: {text[:200]}"
    header_id = response.headers.get("X-Request-ID", "")
    if not SANE_REQUEST_ID.fullmatch(header_id):
        return f"X-Request-ID header {header_id!r} is missing or not sane"
    if response.status_code == 405 and not response.headers.get("Allow"):
        return "405 without an Allow header"
    if case.method == "HEAD":
        return None
    if response.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
        return f"Content-Type {response.headers.get('Content-Type')!r}: {text[:200]}"
    if any(marker in text for marker in TRACE_MARKERS):
        return f"trace-like text in the body: {text[:300]}"
    try:
        body = response.json()
        error = ErrorBody.model_validate(body["error"]).model_dump()
    except (ValueError, KeyError, TypeError) as exc:
        return f"not the envelope ({exc.__class__.__name__}): {text[:200]}"
    if not set(body) <= {"error", "valid"}:  # auth-validate adds valid=false beside the envelope
        return f"unexpected top-level keys {sorted(body)}"
    code = ErrorCode(error["code"])
    if HTTP_STATUS[code] != response.status_code:
        return f"code {code} means {HTTP_STATUS[code]}, answered {response.status_code}"
    if case.code is not None and code != case.code:
        return f"code {code}, expected {case.code}: {error['message']}"
    if error["requestId"] != header_id:
        return f"body requestId {error['requestId']!r} is not the header's {header_id!r}"
    if case.check is not None:
        return case.check(error)  # type: ignore[no-any-return]
    return None


@pytest.fixture(scope="module")
def http(local_cloud: StackConfig) -> Iterator[requests.Session]:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=WORKERS)
    session.mount("http://", adapter)
    yield session
    session.close()


@pytest.fixture(scope="module")
def body_limit(local_cloud: StackConfig) -> int:
    """The functions' JSON body limit, as the local cloud configures them."""
    configured = local_cloud.function_env().get("KSTREAM_MAX_BODY_BYTES")
    return int(configured or Settings.model_fields["max_body_bytes"].default)


@pytest.fixture(scope="module")
def upload_session(local_cloud: StackConfig, http: requests.Session) -> dict[str, Any]:
    """A live upload session of a user of its own, for the cases that only a real session reaches."""
    token = token_for(local_cloud, "uploader", f"sweep-{uuid.uuid4().hex[:8]}@kstream.test")
    size = 256 * 1024
    response = http.post(f"{local_cloud.gateway_url}/api/upload/start", timeout=30,
                         headers={"Authorization": f"Bearer {token}"},
                         json={"filename": "sweep.mp4", "totalSize": 2 * size, "chunkSize": size,
                               "metadata": {"title": "Sweep", "series": "Sweep", "episode": 1}})
    assert response.status_code == 200, response.text
    return {"uploadId": response.json()["uploadId"], "chunkSize": size, "token": token}


def send(http: requests.Session, cfg: StackConfig, case: Case, tokens: dict[str, str]) -> str | None:
    headers = dict(case.headers)
    if case.token and "Authorization" not in headers:
        headers["Authorization"] = f"Bearer {tokens[case.token]}"
    try:
        response = http.request(case.method, cfg.gateway_url + case.path, headers=headers, data=case.body,
                                timeout=30, allow_redirects=False)
    except requests.RequestException as exc:
        return f"no answer: {exc!r}"[:300]
    return complaint(case, response)


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_every_http_function_answers_bad_input_with_the_envelope(
        name: str, local_cloud: StackConfig, http: requests.Session, body_limit: int,
        upload_session: dict[str, Any]) -> None:
    spec = FUNCTIONS.by_name(name)
    cases = cases_for(spec, local_cloud, body_limit, upload_session)
    tokens = {role: token_for(local_cloud, role) for role in ("user", "uploader", "admin", "service")}
    tokens["uploader-sweep"] = upload_session["token"]
    for case in cases:
        if case.token and case.token.startswith("odd-") and case.token not in tokens:
            tokens[case.token] = token_for(local_cloud, "uploader", f"sweep-{uuid.uuid4().hex[:12]}@kstream.test")
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda case: send(http, local_cloud, case, tokens), cases))
    failures = [f"{case.method} {case.path[:80]} [{case.label}]: {problem}"
                for case, problem in zip(cases, results, strict=True) if problem]
    assert not failures, f"{name}: {len(failures)} of {len(cases)} bad requests answered wrongly:\n" + \
        "\n".join(failures)


MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def test_series_made_of_separator_characters_is_a_400_everywhere(local_cloud: StackConfig,
                                                                  http: requests.Session) -> None:
    """The fuzzing find of issue 13: series "\x1c" was a 500 on search, metadata and upload/complete."""
    user, service = token_for(local_cloud, "user"), token_for(local_cloud, "service")
    uploader = token_for(local_cloud, "uploader", f"sweep-{uuid.uuid4().hex[:12]}@kstream.test")
    base = local_cloud.gateway_url
    answers = {
        "search": http.get(f"{base}/api/metadata/videos/search?series=%1C", timeout=30,
                           headers={"Authorization": f"Bearer {user}"}),
        "metadata": http.post(f"{base}/api/metadata/videos", timeout=30, headers={"Authorization": f"Bearer {service}"},
                              json={**SAMPLE_BODIES["metadata-upsert"], "series": "\x1c\x1d\x1e\x1f",
                                    "streamingUrls": {"hls": "x"}}),
        "upload/start": http.post(f"{base}/api/upload/start", timeout=30,
                                  headers={"Authorization": f"Bearer {uploader}"},
                                  json={**SAMPLE_BODIES["upload-start"], "metadata": {"title": "t", "series": "\x1c",
                                                                                       "episode": 1}}),
    }
    problems = {where: complaint(Case(where, "GET", "", code=ErrorCode.REQUEST_INVALID, statuses=(400,),
                                      check=names_fields("series" if where != "upload/start" else "metadata.series")),
                                 answer) for where, answer in answers.items()}
    assert not any(problems.values()), problems


def test_whatever_upload_start_accepts_upload_complete_completes(local_cloud: StackConfig,
                                                                 http: requests.Session) -> None:
    """Odd text the rule accepts in every text field of upload/start; each upload completes and its video is
    found by its series, stored in the rule's form (NFC, trimmed)."""
    import hashlib
    import os
    import unicodedata

    base = local_cloud.gateway_url
    failures = []
    for label, value in ODD_TEXT.items():
        if not value.strip():  # refused at start as empty: nothing to complete
            continue
        token = token_for(local_cloud, "uploader", f"sweep-{uuid.uuid4().hex[:12]}@kstream.test")
        auth_header = {"Authorization": f"Bearer {token}"}
        data = MP4_HEAD + os.urandom(64 * 1024)
        unique = uuid.uuid4().hex[:6]
        core = value.strip()  # the odd characters stay at the edges, where the rule trims them
        lead, tail = value[:value.index(core)], value[value.index(core) + len(core):]
        series = f"{lead}{unique} {core}{tail}"
        started = http.post(f"{base}/api/upload/start", headers=auth_header, timeout=30, json={
            "filename": f"{lead}{core}.mp4{tail}", "totalSize": len(data), "chunkSize": 256 * 1024,
            "metadata": {"title": value, "series": series, "episode": 1, "description": f"{value}\r\n",
                         "tags": [value]}})
        if started.status_code != 200:
            failures.append(f"[{label}] start: {started.status_code} {started.text[:200]}")
            continue
        session = started.json()
        put = requests.put(session["chunkUrls"][0], data=data, timeout=30,
                           headers={"Content-Type": "application/octet-stream", **session["requiredHeaders"][0]})
        done = http.post(f"{base}/api/upload/complete/{session['uploadId']}", headers=auth_header, timeout=120,
                         json={"finalChecksum": hashlib.md5(data).hexdigest()})
        if put.status_code != 200 or done.status_code != 200:
            failures.append(f"[{label}] put {put.status_code}, complete {done.status_code}: {done.text[:300]}")
            continue
        status = http.get(f"{base}/api/upload/status/{session['uploadId']}", headers=auth_header, timeout=30)
        found = http.get(f"{base}/api/metadata/videos/search", headers=auth_header, timeout=30,
                         params={"series": series})
        videos = [v for v in found.json().get("videos", []) if v["id"] == session["videoId"]] \
            if found.status_code == 200 else []
        expected = unicodedata.normalize("NFC", series).strip()
        if status.json().get("status") != "completed" or not videos or videos[0]["series"] != expected:
            failures.append(f"[{label}] status {status.json().get('status')}, search {found.status_code} "
                            f"{[v['series'] for v in videos]} (expected {expected!r})")
    assert not failures, "\n".join(failures)


def test_the_sweep_knows_every_http_function(local_cloud: StackConfig) -> None:
    """Every HTTP function of the list has a contract, and one with a body has a sample body to vary."""
    assert HTTP_FUNCTIONS
    for name in HTTP_FUNCTIONS:
        assert name in ENDPOINTS, f"{name} has no entry in contracts/endpoints.py"
        if ENDPOINTS[name].request is not None:
            assert name in SAMPLE_BODIES, f"add a sample body of {name} to SAMPLE_BODIES"


def test_unknown_routes_and_unroutable_requests_get_the_envelope(local_cloud: StackConfig,
                                                                 http: requests.Session) -> None:
    cases = [Case("no such route", "GET", "/api/sweep/nothing", statuses=(404,), code=ErrorCode.ROUTE_NOT_FOUND),
             Case("a newline in the path", "GET", "/api/sweep%0Anothing", statuses=(404,)),
             Case("no such route, garbage X-Request-ID", "POST", "/api/sweep", headers={"X-Request-ID": "x y"},
                  statuses=(404,))]
    problems = [f"{case.label}: {p}" for case in cases if (p := send(http, local_cloud, case, {}))]
    assert not problems, problems


# =========================================================================================== events
@dataclass
class EventCase:
    label: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)  # overrides of the bridge's CloudEvent headers
    drop: tuple[str, ...] = ()  # bridge headers to leave out


def _b64(value: bytes | str) -> str:
    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()


def _push(data: str | None = None, **message: Any) -> dict[str, Any]:
    if data is not None:
        message["data"] = data
    return {"message": {"messageId": uuid.uuid4().hex, **message}, "subscription": "projects/p/subscriptions/s"}


def storage_event_cases(cfg: StackConfig) -> list[EventCase]:
    bucket, name = cfg.source_bucket, f"sources/sweep-{uuid.uuid4().hex[:8]}/episode.mp4"

    def obj(**changes: Any) -> bytes:
        return json.dumps({"bucket": bucket, "name": name, "generation": "1", **changes}).encode()

    return [
        EventCase("garbage bytes", b"\x00garbage{"),
        EventCase("a JSON array", b"[1, 2]"),
        EventCase("a JSON string", b'"text"'),
        EventCase("JSON null", b"null"),
        EventCase("an empty body", b""),
        EventCase("an empty object", b"{}"),
        EventCase("no name", json.dumps({"bucket": bucket, "generation": "1"}).encode()),
        EventCase("no generation", json.dumps({"bucket": bucket, "name": name}).encode()),
        EventCase("bucket a number", obj(bucket=5)),
        EventCase("name a list", obj(name=["x"])),
        EventCase("name of 2 KiB", obj(name="sources/" + "n" * 2048)),
        EventCase("name with control characters", obj(name="sources/x/\x00\n.mp4")),
        *[EventCase(f"generation {label}", obj(generation=value)) for label, value in {
            "a list": [1], "true": True, "'abc'": "abc", "'-1'": "-1", "'0'": "0", "a float": 1.5,
            "a superscript digit": "\u00b2", "of 5000 digits": "9" * 5000, "over int64": str(2**64)}.items()],
        EventCase("another bucket", obj(bucket="sweep-not-the-source-bucket")),
        EventCase("an object outside sources/", obj(name="elsewhere/episode.mp4")),
        EventCase("an object that does not exist", obj()),
        EventCase("text/plain data", b"hello", {"Content-Type": "text/plain"}),
        EventCase("no ce-subject or ce-time", obj(), drop=("ce-subject", "ce-time")),
    ]


def pubsub_event_cases() -> list[EventCase]:
    def data(push: dict[str, Any]) -> bytes:
        return json.dumps(push).encode()

    notice = {"name": "projects/demo-kstream/locations/asia-northeast3/jobs/sweep-no-such-job", "state": "SUCCEEDED"}
    return [
        EventCase("garbage bytes", b"\x00garbage{"),
        EventCase("a JSON array", b"[1]"),
        EventCase("no message", data({"subscription": "s"})),
        EventCase("message a string", data({"message": "hi"})),
        EventCase("no data", data(_push())),
        EventCase("data a number", data(_push(data=5))),  # type: ignore[arg-type]
        EventCase("data not base64", data(_push("!!!not base64"))),
        EventCase("base64 that is not JSON", data(_push(_b64(b"\xff\x00garbage")))),
        EventCase("base64 of a JSON list", data(_push(_b64("[1]")))),
        EventCase("base64 of deeply nested JSON", data(_push(_b64("[" * 5000 + "]" * 5000)))),
        EventCase("job a string", data(_push(_b64(json.dumps({"job": "x"}))))),
        EventCase("job without a name", data(_push(_b64(json.dumps({"job": {"state": "SUCCEEDED"}}))))),
        EventCase("job name not a job name", data(_push(_b64(json.dumps({"job": {**notice, "name": "x" * 600}}))))),
        EventCase("an unknown job", data(_push(_b64(json.dumps({"job": notice}))))),
        EventCase("state a map", data(_push(_b64(json.dumps({"job": {**notice, "state": {"a": 1}}}))))),
        EventCase("state an unknown number", data(_push(_b64(json.dumps({"job": {**notice, "state": 10**30}}))))),
        EventCase("attributes a list", data(_push(_b64(json.dumps({"job": notice})), attributes=["x"]))),
        EventCase("no ce-time", data(_push(_b64(json.dumps({"job": notice})))), drop=("ce-time",)),
    ]


def bridge_headers(cfg: StackConfig, spec: FunctionSpec) -> dict[str, str]:
    """The CloudEvent headers the event bridge sends this function (local_emulator/eventarc.py builds them)."""
    assert spec.event is not None
    if spec.event.bucket:
        notice = {"message": {"attributes": {"eventType": "OBJECT_FINALIZE", "bucketId": cfg.source_bucket,
                                             "objectId": "sources/x/episode.mp4"}, "data": _b64("{}"),
                              "messageId": "m"}}
        made = eventarc.storage_cloudevent(notice)
        assert made is not None
        return made[0]
    return eventarc.pubsub_cloudevent(_push(""), cfg.project_id, eventarc.topic_for(cfg, spec.event.topic or ""))[0]


def bridge_push_cases(cfg: StackConfig, spec: FunctionSpec) -> list[tuple[str, bytes]]:
    """Malformed Pub/Sub push bodies, as the Pub/Sub emulator would post them to the bridge."""
    assert spec.event is not None
    cases = [("not JSON", b"{"), ("a JSON list", b"[1]"), ("a JSON string", b'"x"'), ("message a list",
             b'{"message": [1]}'), ("attributes a list", b'{"message": {"attributes": [1]}}'),
             ("nesting 20000 deep", b'{"message": ' * 20000 + b"{}" + b"}" * 20000)]
    if spec.event.bucket:
        attributes = {"eventType": "OBJECT_FINALIZE", "bucketId": cfg.source_bucket,
                      "objectId": f"sources/sweep-{uuid.uuid4().hex[:8]}/e.mp4"}
        cases += [(label, json.dumps(_push(value, attributes=attributes)).encode()) for label, value in {
            "storage data not base64": "!!!", "storage data base64 of a list": _b64("[1]"),
            "storage data base64 of non-JSON": _b64(b"\xff"), "storage generation garbage":
            _b64(json.dumps({"bucket": cfg.source_bucket, "generation": "x"}))}.items()]
        cases.append(("eventType a list", json.dumps(_push("", attributes={"eventType": ["x"]})).encode()))
    else:
        cases += [("data a number", json.dumps(_push(5)).encode()),  # type: ignore[arg-type]
                  ("messageId with a newline", json.dumps(_push(_b64("{}"), messageId="a\nb")).encode()),
                  ("publishTime a number", json.dumps(_push(_b64("{}"), publishTime=5)).encode())]
    return cases


def videos_snapshot(cfg: StackConfig) -> dict[str, Any]:
    from google.cloud import firestore

    client = firestore.Client(project=cfg.project_id)
    return {doc.id: doc.update_time for doc in client.collection("videos").select([]).stream()}


def settled_videos_snapshot(cfg: StackConfig, quiet: float = 2.0, wait: float = 60.0) -> dict[str, Any]:
    """The videos collection once no document has changed for ``quiet`` seconds: the stack is shared by the whole
    suite, and work an earlier test started (a job finishing, a premiere's part) may still be writing its video."""
    deadline = time.monotonic() + wait
    snapshot = videos_snapshot(cfg)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        again = videos_snapshot(cfg)
        if again == snapshot:
            return snapshot
        snapshot = again
    return snapshot


def log_lines(cfg: StackConfig, ids: set[str], wait: float = 45.0) -> dict[str, list[dict[str, Any]]]:
    """The functions' structured log lines of these event ids, from the local cloud's log."""
    log = Path(cfg.state_dir) / "stack.log"
    deadline = time.monotonic() + wait
    while True:
        found: dict[str, list[dict[str, Any]]] = {}
        for line in log.read_text(errors="replace").splitlines():
            service, _, text = line.partition("| ")
            if service.strip() != "functions" or not text.startswith("{"):
                continue
            try:
                entry = json.loads(text)
            except json.JSONDecodeError:  # the last line, still being written by the supervisor
                continue
            if entry.get("eventId") in ids:
                found.setdefault(entry["eventId"], []).append(entry)
        if set(found) >= ids or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.parametrize("name", EVENT_FUNCTIONS)
def test_every_event_function_acknowledges_malformed_events_and_writes_nothing(
        name: str, local_cloud: StackConfig, http: requests.Session) -> None:
    spec = FUNCTIONS.by_name(name)
    assert spec.event is not None
    cases = storage_event_cases(local_cloud) if spec.event.bucket else pubsub_event_cases()
    base = bridge_headers(local_cloud, spec)
    before = settled_videos_snapshot(local_cloud)

    def post(case: EventCase) -> tuple[str, requests.Response | str]:
        event_id = f"sweep-{uuid.uuid4().hex}"
        headers = {**{k: v for k, v in base.items() if k not in case.drop}, "ce-id": event_id, **case.headers}
        try:
            return event_id, http.post(f"{local_cloud.functions_url}/{name}/", data=case.data, headers=headers,
                                       timeout=60)
        except requests.RequestException as exc:
            return event_id, repr(exc)

    def push(body: bytes) -> requests.Response | str:
        try:
            return http.post(f"{local_cloud.eventarc_url}/push/{name}", data=body, timeout=60,
                             headers={"Content-Type": "application/json"})
        except requests.RequestException as exc:
            return repr(exc)

    with ThreadPoolExecutor(WORKERS) as pool:
        answers = list(pool.map(post, cases))
        pushes = bridge_push_cases(local_cloud, spec)
        pushed = list(pool.map(push, [body for _, body in pushes]))
    failures = [f"[{case.label}] {answer if isinstance(answer, str) else f'{answer.status_code} {answer.text[:150]}'}"
                for case, (_, answer) in zip(cases, answers, strict=True)
                if isinstance(answer, str) or not 200 <= answer.status_code < 300]
    failures += [f"[push: {label}] {answer if isinstance(answer, str) else f'{answer.status_code} {answer.text[:150]}'}"
                 for (label, _), answer in zip(pushes, pushed, strict=True)
                 if isinstance(answer, str) or not 200 <= answer.status_code < 300]
    lines = log_lines(local_cloud, {event_id for event_id, _ in answers})
    for case, (event_id, _) in zip(cases, answers, strict=True):
        entries = lines.get(event_id, [])
        if len(entries) != 1:
            failures.append(f"[{case.label}] {len(entries)} log lines for event {event_id}, expected 1")
            continue
        entry = entries[0]
        if entry.get("action") in ("retry", None) or "Traceback" in entry.get("message", ""):
            failures.append(f"[{case.label}] logged as {entry.get('action')}: {entry.get('message', '')[:200]}")
        elif entry["action"] in ("dropped", "ignored", "stale") and not entry.get("reason"):
            failures.append(f"[{case.label}] rejected ({entry['action']}) without a reason")
    assert not failures, f"{name}: {len(failures)} malformed events handled wrongly:\n" + "\n".join(failures)
    assert videos_snapshot(local_cloud) == before, "a malformed event changed the videos collection"


# ================================================================================= the local Transcoder API
def test_the_local_transcoder_answers_bad_requests_in_the_apis_error_shape(local_cloud: StackConfig,
                                                                         http: requests.Session) -> None:
    """The Transcoder stand-in answers as Google's REST API does: 4xx {"error": {code, message, status}}."""
    jobs = f"/v1/projects/{local_cloud.project_id}/locations/asia-northeast3/jobs"
    io = {"inputUri": "gs://sweep/in.mp4", "outputUri": "gs://sweep/out/"}
    cases: list[tuple[str, str, str, bytes | None]] = [
        ("malformed JSON", "POST", jobs, b"{"),
        ("a JSON list", "POST", jobs, b"[1]"),
        ("nesting 5000 deep", "POST", jobs, b"[" * 5000 + b"]" * 5000),
        ("inputUri a number", "POST", jobs, json.dumps({"inputUri": 5, "outputUri": 6}).encode()),
        ("templateId a list", "POST", jobs, json.dumps({**io, "templateId": ["x"]}).encode()),
        ("config a string", "POST", jobs, json.dumps({**io, "config": "x"}).encode()),
        ("elementaryStreams of numbers", "POST", jobs,
         json.dumps({**io, "config": {"elementaryStreams": [1], "muxStreams": [2]}}).encode()),
        ("labels a list", "POST", jobs, json.dumps({**io, "labels": [1]}).encode()),
        ("pageSize not a number", "GET", f"{jobs}?pageSize=abc", None),
        ("a negative pageToken", "GET", f"{jobs}?pageToken=LTE=", None),
        ("PUT", "PUT", jobs, b"{}"),
        ("an unknown job", "GET", f"{jobs}/sweep-no-such-job", None),
    ]
    failures = []
    for label, method, path, body in cases:
        response = http.request(method, local_cloud.transcoder_url + path, data=body, timeout=30,
                                headers={"Content-Type": "application/json"})
        try:
            error = response.json()["error"]
            shaped = isinstance(error["code"], int) and error["message"] and error["status"].isupper()
        except (ValueError, KeyError, TypeError, AttributeError):
            shaped = False
        if not 400 <= response.status_code < 500 or not shaped or "Traceback" in response.text:
            failures.append(f"[{label}] {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)
