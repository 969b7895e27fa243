"""HTTP routes of the Transcoder v1 REST API (what the official client's REST transport calls) + /healthz."""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .config import enum_number, normalize_job, normalize_template
from .errors import ApiError, invalid, not_found
from .presets import PRESETS, preset_config
from .runner import JobRunner
from .store import JobRecord, Store, now_rfc3339

log = logging.getLogger("local_emulator.transcoder")

_PARENT = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_ROUTES = [
    ("POST", re.compile(_PARENT + r"/jobs$"), "create_job"),
    ("GET", re.compile(_PARENT + r"/jobs$"), "list_jobs"),
    ("GET", re.compile(_PARENT + r"/jobs/(?P<id>[^/]+)$"), "get_job"),
    ("DELETE", re.compile(_PARENT + r"/jobs/(?P<id>[^/]+)$"), "delete_job"),
    ("POST", re.compile(_PARENT + r"/jobTemplates$"), "create_template"),
    ("GET", re.compile(_PARENT + r"/jobTemplates$"), "list_templates"),
    ("GET", re.compile(_PARENT + r"/jobTemplates/(?P<id>.+)$"), "get_template"),
    ("DELETE", re.compile(_PARENT + r"/jobTemplates/(?P<id>.+)$"), "delete_template"),
]
MAX_PAGE_SIZE = 100

# Enum fields rendered as integers when the client asks for enum-encoding=int (the official client does).
_ENUM_PATHS = {"state": "state", "mode": "mode", "optimization": "optimization"}


def render_enums(doc: dict, ints: bool) -> dict:
    if not ints:
        return doc
    doc = copy.deepcopy(doc)
    for field, kind in _ENUM_PATHS.items():
        if isinstance(doc.get(field), str):
            doc[field] = enum_number(kind, doc[field])
    config = doc.get("config") or {}
    for manifest in config.get("manifests") or []:
        if isinstance(manifest.get("type"), str):
            manifest["type"] = enum_number("manifestType", manifest["type"])
        dash = manifest.get("dash") or {}
        if isinstance(dash.get("segmentReferenceScheme"), str):
            dash["segmentReferenceScheme"] = enum_number("segmentReferenceScheme", dash["segmentReferenceScheme"])
    for stream in config.get("elementaryStreams") or []:
        h264 = (stream.get("videoStream") or {}).get("h264") or {}
        if isinstance(h264.get("frameRateConversionStrategy"), str):
            h264["frameRateConversionStrategy"] = enum_number("frameRateConversionStrategy",
                                                              h264["frameRateConversionStrategy"])
    return doc


def _page(items: list, query: dict) -> tuple[list, str]:
    try:
        size = int((query.get("pageSize") or query.get("page_size") or ["0"])[0] or 0)
    except ValueError:
        raise invalid("page_size must be an integer") from None
    if size < 0:
        raise invalid("page_size must not be negative")
    size = min(size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    token = (query.get("pageToken") or query.get("page_token") or [""])[0]
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise invalid("page_token is not valid") from None
        if start < 0:
            raise invalid("page_token is not valid")
    chunk = items[start:start + size]
    nxt = start + size
    return chunk, base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(items) else ""


_FILTER_TERM = re.compile(r'^\s*([A-Za-z_.]+)\s*(=|:)\s*"?([^"]*)"?\s*$')


def _matches(doc: dict, template_id: str, filter_text: str) -> bool:
    """A minimal AIP-160 filter: ``field = value`` terms joined by AND (state, name, template_id, labels.KEY)."""
    if not filter_text.strip():
        return True
    for term in re.split(r"\s+AND\s+", filter_text.strip()):
        match = _FILTER_TERM.match(term)
        if not match:
            raise invalid(f"filter: cannot parse '{term}' (supported: field = value [AND ...])")
        field, _, value = match.groups()
        if field == "state":
            actual = doc.get("state", "")
        elif field == "name":
            actual = doc.get("name", "")
        elif field in ("templateId", "template_id"):
            actual = template_id
        elif field.startswith("labels."):
            actual = (doc.get("labels") or {}).get(field[len("labels."):], "")
        else:
            raise invalid(f"filter: unsupported field '{field}' (supported: state, name, template_id, labels.KEY)")
        if actual != value:
            return False
    return True


def _decoded(normalize: Callable[..., dict], *args: Any) -> dict:
    """``normalize_job`` / ``normalize_template`` of a client's body. The real API decodes a body into its proto
    before anything else, so a value of the wrong JSON type anywhere is 400 INVALID_ARGUMENT there, never a 500."""
    try:
        return normalize(*args)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise invalid(f"Invalid JSON payload received: a value has the wrong type ({exc})") from None


class Api:
    """The resource logic; the HTTP handler below only routes and serialises."""

    def __init__(self, store: Store, runner: JobRunner):
        self.store = store
        self.runner = runner

    def job_view(self, record: JobRecord, ints: bool) -> dict:
        doc, progress = self.store.snapshot(record)
        doc = render_enums(doc, ints)
        # v1 Job has no progress field any more; the official client ignores unknown fields, so the emulator
        # reports the v1beta1 Progress shape here for tools that read the raw JSON.
        doc["progress"] = progress
        return doc

    def create_job(self, parent: str, body: dict, ints: bool) -> dict:
        normalized = _decoded(normalize_job, body, self.store.templates, parent)
        name = f"{parent}/jobs/{uuid.uuid4()}"
        job = {"name": name, **normalized, "state": "PENDING", "createTime": now_rfc3339()}
        has_config = bool(body.get("config"))
        template_id = "" if has_config else (body.get("templateId") or body.get("template_id") or "preset/web-hd")
        record = JobRecord(job=job, template_id=template_id)
        self.store.add_job(record)
        view = self.job_view(record, ints)  # answered as created: PENDING
        self.runner.submit(record)
        log.info("job %s created", name)
        return view

    def get_job(self, name: str, ints: bool) -> dict:
        record = self.store.get_job(name)
        if record is None:
            raise not_found(f"Job {name} not found")
        return self.job_view(record, ints)

    def list_jobs(self, parent: str, query: dict, ints: bool) -> dict:
        filter_text = (query.get("filter") or [""])[0]
        records = [r for r in self.store.list_jobs(parent)]
        if "desc" in (query.get("orderBy") or query.get("order_by") or [""])[0]:
            records.reverse()
        views = [self.job_view(r, False) for r in records]
        views = [(v, r) for v, r in zip(views, records, strict=True) if _matches(v, r.template_id, filter_text)]
        page, token = _page(views, query)
        out: dict = {"jobs": [render_enums(v, ints) for v, _ in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def delete_job(self, name: str, query: dict) -> dict:
        record = self.store.remove_job(name)
        if record is None:
            if (query.get("allowMissing") or query.get("allow_missing") or [""])[0].lower() == "true":
                return {}
            raise not_found(f"Job {name} not found")
        self.runner.cancel(record)
        return {}

    def create_template(self, parent: str, body: dict, query: dict) -> dict:
        template_id = (query.get("jobTemplateId") or query.get("job_template_id") or [""])[0]
        if not template_id:
            raise invalid("job_template_id is required")
        normalized = _decoded(normalize_template, body, template_id)
        name = f"{parent}/jobTemplates/{template_id}"
        with self.store.lock:
            if name in self.store.templates:
                raise ApiError("ALREADY_EXISTS", f"JobTemplate {name} already exists")
            template = {"name": name, **normalized}
            self.store.templates[name] = template
        return render_enums(template, False)

    def get_template(self, parent: str, template_id: str, ints: bool) -> dict:
        if template_id in PRESETS:
            return render_enums({"name": f"{parent}/jobTemplates/{template_id}",
                                 "config": preset_config(template_id)}, ints)
        name = f"{parent}/jobTemplates/{template_id}"
        with self.store.lock:
            template = copy.deepcopy(self.store.templates.get(name))
        if template is None:
            raise not_found(f"JobTemplate {name} not found")
        return render_enums(template, ints)

    def list_templates(self, parent: str, query: dict, ints: bool) -> dict:
        with self.store.lock:
            items = [copy.deepcopy(t) for n, t in self.store.templates.items() if n.startswith(parent + "/")]
        page, token = _page(items, query)
        out: dict = {"jobTemplates": [render_enums(t, ints) for t in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def delete_template(self, parent: str, template_id: str, query: dict) -> dict:
        name = f"{parent}/jobTemplates/{template_id}"
        with self.store.lock:
            if self.store.templates.pop(name, None) is None:
                if (query.get("allowMissing") or query.get("allow_missing") or [""])[0].lower() == "true":
                    return {}
                raise not_found(f"JobTemplate {name} not found")
        return {}


def make_handler(api: Api):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kstream-local-transcoder/1"

        def log_message(self, fmt, *args):  # quiet: one debug line per request
            log.debug("%s " + fmt, self.client_address[0], *args)

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _raw_body(self) -> bytes:
            """The request body, read whatever the method, so no byte of it is left to pass for the next request."""
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True  # the body's end is unknown: this connection carries nothing more
                raise invalid("The request body needs a valid Content-Length (chunked bodies are not supported)")
            return self.rfile.read(length) if length else b""

        def _body(self, raw: bytes) -> dict:
            if not raw.strip():
                return {}
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):
                raise invalid("Invalid JSON payload received.") from None
            if not isinstance(body, dict):
                raise invalid("Invalid JSON payload received: expected an object.")
            return body

        def _dispatch(self, method: str) -> None:
            try:
                url = urlsplit(self.path)
                if url.path == "/healthz" and method == "GET":
                    self._send(200, {"status": "ok"})
                    return
                raw_query = url.query
                query = parse_qs(raw_query, keep_blank_values=True)
                ints = "enum-encoding=int" in raw_query
                raw_body = self._raw_body()
                body = self._body(raw_body) if method == "POST" else {}
                for route_method, pattern, action in _ROUTES:
                    match = pattern.match(url.path)
                    if match and route_method == method:
                        self._send(200, self._call(action, match, body, query, ints))
                        return
                raise not_found(f"Method {method} {url.path} not found")
            except ApiError as exc:
                self._send(exc.http_code, exc.http_body())
            except Exception as exc:  # answer 500 in the API error shape (logged)
                log.exception("request failed")
                error = ApiError("INTERNAL", f"internal error: {exc}")
                self._send(error.http_code, error.http_body())

        def _call(self, action: str, match: re.Match, body: dict, query: dict, ints: bool) -> dict:
            parent = f"projects/{unquote(match['project'])}/locations/{unquote(match['location'])}"
            if action == "create_job":
                return api.create_job(parent, body, ints)
            if action == "list_jobs":
                return api.list_jobs(parent, query, ints)
            if action == "get_job":
                return api.get_job(f"{parent}/jobs/{unquote(match['id'])}", ints)
            if action == "delete_job":
                return api.delete_job(f"{parent}/jobs/{unquote(match['id'])}", query)
            if action == "create_template":
                return api.create_template(parent, body, query)
            if action == "list_templates":
                return api.list_templates(parent, query, ints)
            if action == "get_template":
                return api.get_template(parent, unquote(match["id"]), ints)
            return api.delete_template(parent, unquote(match["id"]), query)

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def do_DELETE(self):
            self._dispatch("DELETE")

        def do_PATCH(self):
            self._dispatch("PATCH")

        def do_PUT(self):
            self._dispatch("PUT")

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
