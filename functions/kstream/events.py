"""What every event function does around its handler (the CloudEvent counterpart of kstream/http.py).

``cloud_event_function(name, handler)`` binds a handler to an event entry of the function list and registers it
with functions-framework as a CloudEvent function. Per event it reads the settings, calls
``handler(event, settings)`` (imported on the first event when given as ``"module:attribute"``) and writes ONE
structured log line, then decides on purpose whether the event is retried:

    handler returns (an outcome)            done: acknowledged (handled, or dropped as stale / duplicate / not ours)
    handler raises DropEvent(reason)        a malformed event: logged as a warning and acknowledged, never retried
    KstreamError with a 4xx status          a permanent verdict on this event: logged as an error and acknowledged
    KstreamError with a 5xx status          transient (Firestore, Storage, Transcoder unreachable): raised, so
                                            Eventarc / Pub/Sub delivers the event again (with backoff)
    any other exception                     a bug: logged with its stack trace and raised (retried, then dead-lettered)

Outcomes may offer ``log_fields()`` (a dict) for the log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import functions_framework
from cloudevents.http import CloudEvent

from .errors import KstreamError
from .observability import StructuredLogger, parse_trace, process_logger
from .registry import function_list, lazy_handler
from .settings import Settings, get_settings

__all__ = ["DropEvent", "EventHandler", "cloud_event_function"]

EventHandler = Callable[[CloudEvent, Settings], Any]


class DropEvent(Exception):
    """Raised by a handler for an event it can never process (malformed data): logged and acknowledged."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _log(settings: Settings) -> StructuredLogger:
    return process_logger(settings.project_id, settings.log_level)


def _attribute(event: CloudEvent, key: str) -> str | None:
    try:
        value = event[key]
    except KeyError:
        return None
    return str(value) if value is not None else None


def cloud_event_function(name: str, handler: EventHandler | str, settings: Callable[[], Settings] = get_settings
                         ) -> Callable[[CloudEvent], None]:
    """The CloudEvent entry point of event function ``name`` of the function list, running ``handler``."""
    spec = function_list().by_name(name)
    if spec.event is None:
        raise ValueError(f"{name} is an HTTP function, not an event one")
    resolve = lazy_handler(handler)
    read_settings = settings

    def entry_point(event: CloudEvent) -> None:
        started = time.perf_counter()
        context = {
            "function": spec.name,
            "eventId": _attribute(event, "id"),
            "eventType": _attribute(event, "type"),
            "eventSource": _attribute(event, "source"),
            "eventSubject": _attribute(event, "subject"),
            "eventTime": _attribute(event, "time"),
        }
        trace = parse_trace(None, _attribute(event, "traceparent"))
        try:
            current = read_settings()
        except KstreamError as exc:  # a bad deployment: retried (and dead-lettered) until it is fixed
            StructuredLogger("unknown").log("ERROR", f"{spec.name}: {exc.message}", action="retry", **context)
            raise

        def line(severity: str, message: str, **fields: Any) -> None:
            _log(current).log(severity, message, trace=trace, latencySeconds=round(time.perf_counter() - started, 4),
                              **context, **fields)

        try:
            outcome = resolve()(event, current)
        except DropEvent as exc:
            line("WARNING", f"{spec.name}: dropped a malformed event: {exc.reason}", action="dropped",
                 reason=exc.reason)
            return
        except KstreamError as exc:
            if exc.status < 500:
                line("ERROR", f"{spec.name}: dropped: {exc.message}", action="dropped", errorCode=exc.code,
                     reason=exc.message)
                return
            line("WARNING", f"{spec.name}: will be retried: {exc.message}", action="retry", errorCode=exc.code,
                 reason=exc.message, details=exc.details)
            raise
        except Exception as exc:
            _log(current).exception(f"{spec.name}: unhandled error; the event will be retried", exc,
                                    request_id=context["eventId"], **context)
            raise
        fields = outcome.log_fields() if hasattr(outcome, "log_fields") else {}
        line("INFO", f"{spec.name}: {fields.get('action', 'handled')}", **fields)

    entry_point.__name__ = spec.entry_point
    entry_point.__qualname__ = spec.entry_point
    return cast(Callable[[CloudEvent], None], functions_framework.cloud_event(entry_point))
