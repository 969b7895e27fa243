"""The CloudEvent entry-point wrapper (retry vs drop, one log line per event) through functions-framework's own
CloudEvent decoding, and the decoding of storage and Transcoder events by the transcoding handlers."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from kstream import events as kevents
from kstream import observability
from kstream.events import DropEvent
from kstream.observability import StructuredLogger
from kstream.transcode import handlers

ENTRY = '''
from kstream.errors import RequestInvalid, Unavailable
from kstream.events import DropEvent, cloud_event_function
from kstream.settings import Settings


class Outcome:
    def log_fields(self):
        return {"action": "started", "jobId": "job-1"}


def handler(event, settings):
    kind = event.data.get("kind")
    if kind == "drop":
        raise DropEvent("no bucket")
    if kind == "transient":
        raise Unavailable("Firestore is down")
    if kind == "permanent":
        raise RequestInvalid("this event can never work")
    if kind == "bug":
        raise KeyError("oops")
    return Outcome()


on_transcoder_event = cloud_event_function("on-transcoder-event", handler,
                                           settings=lambda: Settings(project_id="demo-unit"))
'''


@pytest.fixture
def client(tmp_path: Path) -> Any:
    source = tmp_path / "main.py"
    source.write_text(ENTRY)
    app = functions_framework.create_app(target="on_transcoder_event", source=str(source),
                                         signature_type="cloudevent")
    return app.test_client()


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr(observability, "_process_logger", StructuredLogger("demo-unit", "DEBUG", stream))
    return stream


def _post(client: Any, data: dict[str, Any]) -> Any:
    headers = {"ce-specversion": "1.0", "ce-id": "evt-1", "ce-source": "//pubsub.googleapis.com/projects/p/topics/t",
               "ce-type": "google.cloud.pubsub.topic.v1.messagePublished", "Content-Type": "application/json"}
    return client.post("/", data=json.dumps(data), headers=headers)


def _lines(log: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("kind", "status", "severity", "action"),
    [
        ("ok", 200, "INFO", "started"),
        ("drop", 200, "WARNING", "dropped"),  # malformed: acknowledged, never retried
        ("permanent", 200, "ERROR", "dropped"),  # a 4xx verdict: acknowledged
        ("transient", 500, "WARNING", "retry"),  # raised: Pub/Sub / Eventarc delivers it again
    ],
)
def test_retry_or_drop_is_decided_on_purpose(client: Any, log: io.StringIO, kind: str, status: int,
                                             severity: str, action: str) -> None:
    response = _post(client, {"kind": kind})
    assert response.status_code == status
    lines = _lines(log)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["severity"] == severity and line["action"] == action
    assert line["function"] == "on-transcoder-event" and line["eventId"] == "evt-1"
    assert line["eventType"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert isinstance(line["latencySeconds"], float)


def test_a_bug_is_logged_with_its_stack_and_retried(client: Any, log: io.StringIO) -> None:
    response = _post(client, {"kind": "bug"})
    assert response.status_code == 500
    lines = _lines(log)
    assert len(lines) == 1 and lines[0]["severity"] == "ERROR"
    assert "KeyError: 'oops'" in lines[0]["message"]


def test_an_http_function_name_is_refused() -> None:
    with pytest.raises(ValueError, match="HTTP function"):
        kevents.cloud_event_function("transcode-start", lambda e, s: None)


def test_the_entry_point_is_registered_under_its_function_list_name() -> None:
    entry = kevents.cloud_event_function("sweep-stuck-jobs", lambda e, s: None)
    assert entry.__name__ == "sweep_stuck_jobs"


# -- decoding ------------------------------------------------------------------------------------------------
class _Event:
    def __init__(self, data: Any) -> None:
        self.data = data


def _notice(payload: Any) -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"message": {"data": base64.b64encode(raw).decode(), "messageId": "1"}, "subscription": "s"}


def test_a_transcoder_notice_is_decoded() -> None:
    data = _notice({"job": {"name": "projects/p/locations/l/jobs/j1", "state": "FAILED",
                            "error": {"code": 3, "message": "Input file could not be read"}}})
    assert handlers.job_result(data) == ("projects/p/locations/l/jobs/j1", "FAILED", "Input file could not be read")
    ok = _notice({"job": {"name": "projects/p/locations/l/jobs/j1", "state": 3}})
    assert handlers.job_result(ok) == ("projects/p/locations/l/jobs/j1", "SUCCEEDED", None)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"message": "nope"},
        {"message": {"data": ""}},
        {"message": {"data": "%%%not base64%%%"}},
        _notice(b"not json"),
        _notice([1, 2]),
        _notice({"jobs": {}}),
        _notice({"job": {"state": "SUCCEEDED"}}),
        _notice({"job": {"name": "projects/p/locations/l/jobs/j1"}}),
        _notice({"job": {"name": 5, "state": "SUCCEEDED"}}),
        _notice(b"[" * 5000 + b"]" * 5000),
    ],
)
def test_malformed_transcoder_notices_are_dropped(data: Any) -> None:
    with pytest.raises(DropEvent):
        handlers.job_result(data)


@pytest.mark.parametrize(
    "data",
    [
        None,
        "not json",
        [1],
        {"name": "sources/v/a.mp4", "generation": "1"},
        {"bucket": "b", "generation": "1"},
        {"bucket": "b", "name": "sources/v/a.mp4"},
        {"bucket": "b", "name": "sources/v/a.mp4", "generation": "-4"},
        {"bucket": "b", "name": "sources/v/a.mp4", "generation": "0"},
        {"bucket": "b", "name": "sources/v/a.mp4", "generation": "12a"},
        {"bucket": "b", "name": "sources/v/a.mp4", "generation": True},
        {"bucket": "b", "name": "sources/v/a.mp4", "generation": "\u00b2"},  # isdigit() but not int()
        {"bucket": "b", "name": "sources/v/a.mp4", "generation": "9" * 5000},  # over int()'s digit limit
        {"bucket": "b", "name": "sources/v/a.mp4", "generation": str(2**63)},  # over int64
        {"bucket": "b", "name": "x" * 2000, "generation": "1"},
    ],
)
def test_malformed_storage_events_are_dropped_before_any_work(data: Any) -> None:
    with pytest.raises(DropEvent):
        handlers.on_source_uploaded(_Event(data), None)  # type: ignore[arg-type]
