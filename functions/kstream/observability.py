"""Structured logging in Cloud Logging's JSON format, one line per request, with trace correlation.

Cloud Run functions turn each JSON line on stdout into a LogEntry: ``severity``, ``message``, ``httpRequest``,
``logging.googleapis.com/trace`` and ``logging.googleapis.com/labels`` are lifted into the entry. The request line
also feeds the spec's request metric, ``http_request_duration_seconds`` with labels ``method``, ``route`` and
``status_code``: in the cloud a log-based distribution metric ``<prefix>/http_request_duration_seconds``
(terraform/modules/observability/metrics.tf) reads them from ``httpRequest.requestMethod``, ``route`` and
``httpRequest.status`` of that line; locally :class:`RequestDurations` renders the same histogram in the Prometheus
text format. Tokens, Authorization headers and request bodies are never logged.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SEVERITY_ORDER = {"DEBUG": 10, "INFO": 20, "NOTICE": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_SECRET_QUERY_KEYS = re.compile(r"(signature|token|key|credential|secret|password)", re.IGNORECASE)
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d+))?(?:;o=([01]))?$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{8,128}")


def sane_request_id(given: str | None) -> str:
    """The caller's ``X-Request-ID`` when sane (8-128 of ``A-Za-z0-9._:-``), else a new one. Shared by the
    functions and the local gateway, so a response's header, error body and log lines carry the same id."""
    return given if given and _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def parse_trace(cloud_trace_context: str | None, traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, span id) from ``traceparent`` (W3C) or ``X-Cloud-Trace-Context``; None when absent or bad."""
    if traceparent:
        found = _TRACEPARENT.match(traceparent.strip())
        if found:
            return found.group(1), found.group(2)
    if cloud_trace_context:
        found = _CLOUD_TRACE.match(cloud_trace_context.strip())
        if found:
            span = found.group(2)
            return found.group(1), (f"{int(span):016x}" if span else "")
    return None


def redact_url(url: str) -> str:
    """The URL with secret-looking query values replaced, safe to log (an unparsable URL loses its whole query)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a garbage Host header making "http://[x/..."
        base, mark, _ = url.partition("?")
        return base + (mark and "?REDACTED")
    if not parts.query:
        return url
    query = [(k, "REDACTED" if _SECRET_QUERY_KEYS.search(k) else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class StructuredLogger:
    """Writes Cloud Logging JSON lines; one instance per process."""

    def __init__(self, project_id: str, min_severity: str = "INFO", stream: IO[str] | None = None) -> None:
        self.project_id = project_id
        self.min_level = SEVERITY_ORDER.get(min_severity, 20)
        self.stream = stream

    def _write(self, entry: dict[str, Any]) -> None:
        stream = self.stream or sys.stdout
        stream.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        stream.flush()

    def log(
        self,
        severity: str,
        message: str,
        *,
        request_id: str | None = None,
        trace: tuple[str, str] | None = None,
        **fields: Any,
    ) -> None:
        if SEVERITY_ORDER.get(severity, 20) < self.min_level:
            return
        entry: dict[str, Any] = {
            "severity": severity,
            "message": message,
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        labels: dict[str, str] = {}
        if request_id:
            entry["requestId"] = request_id
            labels["requestId"] = request_id
        if trace:
            entry["logging.googleapis.com/trace"] = f"projects/{self.project_id}/traces/{trace[0]}"
            if trace[1]:
                entry["logging.googleapis.com/spanId"] = trace[1]
        entry.update({k: v for k, v in fields.items() if v is not None})
        if labels:
            entry["logging.googleapis.com/labels"] = labels
        self._write(entry)

    def request(
        self,
        *,
        method: str,
        url: str,
        status: int,
        latency_seconds: float,
        user_agent: str | None,
        remote_ip: str | None,
        response_size: int | None,
        request_id: str,
        trace: tuple[str, str] | None,
        route: str,
        function: str,
        user_id: str | None,
        error_code: str | None = None,
    ) -> None:
        severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
        self.log(
            severity,
            f"{method} {route} {status}",
            request_id=request_id,
            trace=trace,
            httpRequest={
                "requestMethod": method,
                "requestUrl": redact_url(url),
                "status": status,
                "latency": f"{latency_seconds:.6f}s",
                "userAgent": user_agent,
                "remoteIp": remote_ip,
                "responseSize": str(response_size) if response_size is not None else None,
            },
            route=route,
            function=function,
            userId=user_id,
            errorCode=error_code,
        )

    def exception(self, message: str, exc: BaseException, *, request_id: str | None, **fields: Any) -> None:
        # Error Reporting groups entries whose message carries the stack trace.
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log("ERROR", f"{message}\n{stack}", request_id=request_id, **fields)


REQUEST_DURATION_METRIC = "http_request_duration_seconds"
REQUEST_DURATION_LABELS = ("method", "route", "status_code")
REQUEST_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestDurations:
    """The spec's ``http_request_duration_seconds`` histogram (labels method, route, status_code) in the Prometheus
    text format: what a local process serves where the cloud has the log-based metric of the same name."""

    def __init__(self, buckets: tuple[float, ...] = REQUEST_DURATION_BUCKETS) -> None:
        self.bounds = buckets
        self.buckets: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0] * len(self.bounds))
        self.sums: dict[tuple[str, str, int], float] = defaultdict(float)
        self.counts: dict[tuple[str, str, int], int] = defaultdict(int)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] += 1
        self.sums[key] += seconds
        for index, bound in enumerate(self.bounds):
            if seconds <= bound:
                self.buckets[key][index] += 1

    def render(self) -> str:
        name = REQUEST_DURATION_METRIC
        lines = [f"# HELP {name} Duration of HTTP requests in seconds, by method, route template and status code.",
                 f"# TYPE {name} histogram"]
        for key, counts in sorted(self.buckets.items()):
            labels = ",".join(f'{label}="{_label_value(value)}"'
                              for label, value in zip(REQUEST_DURATION_LABELS, key, strict=True))
            for bound, count in zip(self.bounds, counts, strict=True):
                lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {count}')
            lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {self.counts[key]}')
            lines.append(f"{name}_sum{{{labels}}} {self.sums[key]:.6f}")
            lines.append(f"{name}_count{{{labels}}} {self.counts[key]}")
        return "\n".join(lines) + "\n"


def _label_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_process_logger: StructuredLogger | None = None


def process_logger(project_id: str, min_severity: str) -> StructuredLogger:
    """The process's logger, created on first use."""
    global _process_logger
    if _process_logger is None:
        _process_logger = StructuredLogger(project_id, min_severity)
    return _process_logger
