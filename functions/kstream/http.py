"""What every HTTP function does around its handler.

``http_function(name, handler)`` wraps a handler for one entry of the function list. Per request it:
request id (``X-Request-ID`` honoured when sane, else generated) → CORS preflight → route and method check →
API version (path ``/api/vN`` and ``Accept-Version``) → the function's access rule (Firebase user + permission,
or service identity) → the handler → the response, or the spec's error envelope for any error → one structured log
line, which carries the caller's ``userId`` whenever the token was valid, also when the request then failed (a
viewer's 403 or 404). No stack trace ever leaves a function; details of unexpected errors appear only with
``KSTREAM_DEBUG``. Errors of ``auth-validate`` are ``AuthValidationError``: the envelope with ``valid: false``.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import flask
from pydantic import BaseModel

from contracts.auth import AuthValidationError
from contracts.envelope import ErrorBody, ErrorResponse

from . import auth
from .errors import ErrorCode, KstreamError, NotFound, RequestInvalid, UnsupportedVersion
from .observability import StructuredLogger, parse_trace, process_logger, sane_request_id
from .registry import SUPPORTED_VERSIONS, FunctionSpec, function_list, lazy_handler
from .settings import Settings, get_settings
from .validation import validate

Model = TypeVar("Model", bound=BaseModel)
Handler = Callable[["ApiRequest"], "flask.Response | BaseModel"]

_CORS_EXPOSE = "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, " \
    "Content-Range, Content-Length, Accept-Ranges, X-User-ID, X-User-Role, X-User-Permissions"
_CORS_ALLOW_HEADERS = "Authorization, Content-Type, Accept-Version, X-Request-ID, X-Chunk-Checksum, Range, " \
    "X-Original-URI, X-Original-Method"


@dataclass
class ApiRequest:
    """One request, as a handler sees it: parsed route, caller and helpers to read the body and query."""

    raw: flask.Request
    spec: FunctionSpec
    params: dict[str, str]
    principal: auth.Principal | None
    request_id: str
    settings: Settings

    def json(self, model: type[Model]) -> Model:
        """The JSON body validated as ``model``; RequestInvalid (400) naming the field otherwise."""
        content_type = (self.raw.mimetype or "").lower()
        if content_type != "application/json":
            raise RequestInvalid(
                f"Content-Type must be application/json, found {self.raw.content_type or 'none'!r}",
                details={"field": "Content-Type"},
            )
        limit = self.spec.max_body_bytes or self.settings.max_body_bytes
        if self.raw.content_length is not None and self.raw.content_length > limit:
            raise RequestInvalid(
                f"Request body is {self.raw.content_length} bytes; the limit is {limit}",
                details={"limit": limit},
            )
        body = self.raw.stream.read(limit + 1)
        if len(body) > limit:
            raise RequestInvalid(f"Request body exceeds the limit of {limit} bytes", details={"limit": limit})
        if not body.strip():
            raise RequestInvalid("Request body is empty: expected a JSON object")
        data = parse_json(body)
        if not isinstance(data, dict):
            raise RequestInvalid(f"Request body must be a JSON object, found {type(data).__name__}")
        return validate(model, data, where="body")

    def query(self, model: type[Model]) -> Model:
        """The query string validated as ``model``; a repeated or unknown parameter is a 400 naming it."""
        values: dict[str, str] = {}
        for key in self.raw.args:
            found = self.raw.args.getlist(key)
            if len(found) > 1:
                raise RequestInvalid(f"Query parameter '{key}' is given {len(found)} times; give it once",
                                     details={"field": key})
            values[key] = found[0]
        return validate(model, values, where="query")

    def identify(self, principal: auth.Principal) -> None:
        """Record the caller a handler authenticated itself (``auth-validate``), for the request's log line."""
        self.principal = principal

    @property
    def user(self) -> auth.Principal:
        if self.principal is None:
            raise RuntimeError(f"{self.spec.name} is public: it has no authenticated principal")
        return self.principal


def parse_json(body: bytes) -> Any:
    """A request body as JSON text (RFC 8259, UTF-8); RequestInvalid saying what is wrong otherwise."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestInvalid("Request body is not UTF-8 text") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise RequestInvalid(
            f"Malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            details={"line": exc.lineno, "column": exc.colno},
        ) from None
    except RecursionError:
        raise RequestInvalid("Request body is nested too deeply to be a request of this API") from None
    try:  # "\ud800" parses, but is no character: it could not be stored, logged or sent back
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RequestInvalid("Request body has an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF) in a "
                             "string") from None
    return data


def _no_constant(name: str) -> Any:
    raise RequestInvalid(f"Request body has {name}, which is not JSON (RFC 8259 has no NaN or Infinity)")


def json_response(body: BaseModel | Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> flask.Response:
    if isinstance(body, BaseModel):
        payload = body.model_dump_json(exclude_none=True)
    else:
        payload = json.dumps(body, ensure_ascii=False)
    response = flask.Response(payload, status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(error: KstreamError, request_id: str, *, model: type[ErrorResponse] = ErrorResponse
                   ) -> flask.Response:
    body = model(
        error=ErrorBody(
            code=error.code,
            message=error.message,
            details=error.details,
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            requestId=request_id,
        )
    )
    payload = body.model_dump(mode="json", exclude_none=True)
    return json_response(payload, status=error.status, headers=error.headers)


def request_id_of(request: flask.Request) -> str:
    return sane_request_id(request.headers.get("X-Request-ID"))


def check_version(path_version: str | None, header_version: str | None) -> None:
    for source, version in (("path", path_version), ("Accept-Version header", header_version)):
        if version is not None and version not in SUPPORTED_VERSIONS:
            shown = version[:40]  # an error repeats what it was given, never 8 KiB of it
            raise UnsupportedVersion(
                f"API version {shown!r} in the {source} is not supported; supported: {', '.join(SUPPORTED_VERSIONS)}",
                details={"supported": list(SUPPORTED_VERSIONS), "requested": shown},
            )
    if path_version and header_version and path_version != header_version:
        raise UnsupportedVersion(
            f"The path asks for {path_version} but Accept-Version asks for {header_version}",
            details={"path": path_version, "header": header_version},
        )


def logger(settings: Settings) -> StructuredLogger:
    return process_logger(settings.project_id, settings.log_level)


def http_function(name: str, handler: Handler | str, settings: Callable[[], Settings] = get_settings
                  ) -> Callable[[flask.Request], flask.Response]:
    """The entry point for function ``name`` of the function list, running ``handler``.

    ``handler`` may be a ``"module:attribute"`` path, imported on the first request: every deployed function shares
    main.py, and each should load only its own handler's dependencies (cold start). ``settings`` is also read on
    the first request, and tests can hand in their own ``Settings``.
    """
    spec = function_list().by_name(name)
    current_settings = settings
    if spec.http is None:
        raise ValueError(f"{name} is an event function, not an HTTP one")
    resolve = lazy_handler(handler)
    error_model = AuthValidationError if spec.name == "auth-validate" else ErrorResponse

    def entry_point(request: flask.Request) -> flask.Response:
        started = time.perf_counter()
        request_id = request_id_of(request)
        caller = _Caller()
        error_code: str | None = None
        try:
            settings = current_settings()
        except KstreamError as exc:  # a bad deployment: say so in the envelope, not a stack trace
            return error_response(exc, request_id, model=error_model)
        try:
            response = _dispatch(spec, resolve(), request, request_id, settings, caller)
        except KstreamError as exc:
            error_code = exc.code
            response = error_response(exc, request_id, model=error_model)
        except Exception as exc:  # a bug: log it whole, answer without it
            error_code = ErrorCode.SYSTEM_ERROR
            logger(settings).exception(f"unhandled error in {spec.name}", exc, request_id=request_id)
            details = {"exception": traceback.format_exception_only(exc)[-1].strip()} if settings.debug else None
            response = error_response(KstreamError(code=ErrorCode.SYSTEM_ERROR, details=details), request_id,
                                      model=error_model)
        response.headers["X-Request-ID"] = request_id
        for name, value in cors_headers(request.headers.get("Origin"), settings).items():
            response.headers[name] = value
        response.vary.add("Origin")
        logger(settings).request(
            method=request.method,
            url=public_url(request),
            status=response.status_code,
            latency_seconds=time.perf_counter() - started,
            user_agent=request.headers.get("User-Agent"),
            remote_ip=_remote_ip(request),
            response_size=response.calculate_content_length(),
            request_id=request_id,
            trace=parse_trace(request.headers.get("X-Cloud-Trace-Context"), request.headers.get("traceparent")),
            route=spec.http.path if spec.http else spec.name,
            function=spec.name,
            user_id=caller.user_id,
            error_code=error_code,
        )
        return response

    entry_point.__name__ = spec.entry_point
    return entry_point


def cors_headers(origin: str | None, settings: Settings) -> dict[str, str]:
    """CORS for an answer: an origin listed in ``KSTREAM_CORS_ALLOWED_ORIGINS`` is reflected with
    ``Access-Control-Allow-Credentials: true`` (a page there may send cookies, as a credentialed ``fetch`` needs);
    any other origin gets ``*``, which browsers honour for uncredentialed requests only. The wrapper adds ``Vary:
    Origin``, so a shared cache never hands one origin's answer to another."""
    headers = {"Access-Control-Expose-Headers": _CORS_EXPOSE}
    if origin and origin in settings.cors_allowed_origins:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
    else:
        headers["Access-Control-Allow-Origin"] = "*"
    return headers


@dataclass
class _Caller:
    """Who made the request, as far as it got: set once the token is verified, before permissions and the handler,
    so the log line of a request that then fails still names the user."""

    principal: auth.Principal | None = None
    request: ApiRequest | None = None

    @property
    def user_id(self) -> str | None:
        principal = self.request.principal if self.request is not None else self.principal
        return principal.id if principal is not None else None


def _dispatch(spec: FunctionSpec, handler: Handler, request: flask.Request, request_id: str, settings: Settings,
              caller: _Caller) -> flask.Response:
    assert spec.http is not None
    if request.method == "OPTIONS":
        preflight = flask.Response(status=204)
        preflight.headers["Access-Control-Allow-Methods"] = f"{spec.http.method}, OPTIONS"
        preflight.headers["Access-Control-Allow-Headers"] = _CORS_ALLOW_HEADERS
        preflight.headers["Access-Control-Max-Age"] = "3600"
        return preflight
    matched = spec.http.match(request.path)
    if matched is None:
        raise NotFound(f"{request.path} is not served here; this function serves {spec.http.path}",
                       code=ErrorCode.ROUTE_NOT_FOUND)
    allowed = {spec.http.method, "HEAD"} if spec.http.method == "GET" else {spec.http.method}
    if request.method not in allowed:
        raise KstreamError(f"{request.method} is not allowed on {spec.http.path}; use {spec.http.method}",
                           code=ErrorCode.METHOD_NOT_ALLOWED, headers={"Allow": spec.http.method})
    params, path_version = matched
    check_version(path_version, request.headers.get("Accept-Version"))
    if not (spec.playback_token and "token" in request.args and not request.headers.get("Authorization")):
        caller.principal = auth.authenticate(spec, request.headers.get("Authorization"), settings)
        auth.check_access(caller.principal, spec)
    # else: the handler checks the playback token (the function list's playback_token)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):  # nothing in front of a function decodes bodies; neither do handlers
        raise RequestInvalid(f"Content-Encoding {encoding[:40]!r} is not supported: send the body uncompressed",
                             details={"field": "Content-Encoding"})
    caller.request = ApiRequest(request, spec, params, caller.principal, request_id, settings)
    result = handler(caller.request)
    return result if isinstance(result, flask.Response) else json_response(result)


def public_url(request: flask.Request) -> str:
    """The URL as the client sent it (behind the load balancer or the local gateway), without mount prefixes."""
    scheme = request.headers.get("X-Forwarded-Proto") or request.scheme
    host = request.headers.get("X-Forwarded-Host") or request.host
    return f"{scheme}://{host}{request.full_path.rstrip('?')}"


def _remote_ip(request: flask.Request) -> str | None:
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.remote_addr
