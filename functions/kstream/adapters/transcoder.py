"""The Transcoder API through the official ``google-cloud-video-transcoder`` client, one client per process.

    transcoder(settings) -> Transcoder
    Transcoder.create_job(config, labels) -> JobView       config: ladder.build_job_config's REST JSON dict
    Transcoder.get_job(name) -> JobView                   JobNotFound when the API does not know it
    Transcoder.find_job(label, value) -> JobView | None   jobs of this location carrying ``labels.<label> = value``
    Transcoder.delete_job(name)                           best effort; a missing job is fine

With ``KSTREAM_TRANSCODER_ENDPOINT`` set (local runs: ``http://127.0.0.1:PORT`` of local_emulator/transcoder) the
client speaks REST with anonymous credentials to that endpoint and ``provider`` is ``local``; otherwise it is the
default client (gRPC, the runtime's credentials) and ``provider`` is ``google_cloud``.

Errors: the API unreachable, overloaded or refusing our credentials -> :class:`Unavailable` with
TRANSCODE_PROVIDER_UNAVAILABLE (503; an event handler retries); the API refusing the job itself (400 / failed
precondition) -> :class:`JobRejected` (permanent: the job is recorded as failed).

Progress: the v1 ``Job`` has no progress field. The local emulator still reports the v1beta1 ``progress`` object
(analyzed / encoded / uploaded / notified, each 0-1) in its JSON, which the official client drops, so for the local
provider ``get_job`` reads that one field with a plain GET of the same resource.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import google.auth.exceptions
import requests
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.protobuf import json_format

from ..errors import ErrorCode, Unavailable
from ..settings import Settings

__all__ = ["JobNotFound", "JobRejected", "JobView", "Transcoder", "transcoder"]

CALL_TIMEOUT_SECONDS = 30.0
PROGRESS_WEIGHTS = {"analyzed": 0.05, "encoded": 0.85, "uploaded": 0.10}

T = TypeVar("T")

_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.GatewayTimeout,
    gexc.BadGateway,
    gexc.RetryError,
    gexc.Unauthenticated,
    gexc.PermissionDenied,
    gexc.ResourceExhausted,
    gexc.Unknown,
    requests.RequestException,
    google.auth.exceptions.GoogleAuthError,
    ConnectionError,
    TimeoutError,
)
_REJECTED = (gexc.InvalidArgument, gexc.FailedPrecondition, gexc.BadRequest, gexc.OutOfRange, gexc.AlreadyExists)


class JobNotFound(LookupError):
    """The Transcoder API has no job of that name (never created, deleted, or another project's)."""


class JobRejected(ValueError):
    """The Transcoder API refused to create the job (its config or input): a permanent failure, not a retry."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class JobView:
    name: str
    state: str  # PENDING | RUNNING | SUCCEEDED | FAILED | PROCESSING_STATE_UNSPECIFIED
    error: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    progress: float | None = None  # 0-1, only where the provider reports it (the local emulator)
    started_at: datetime | None = None  # when the job started running (Job.start_time)


def _unavailable(exc: BaseException) -> Unavailable:
    reason = getattr(exc, "message", None) or str(exc).split("\n")[0]
    return Unavailable(
        f"The Transcoder API cannot be reached right now ({exc.__class__.__name__}); try again shortly",
        code=ErrorCode.TRANSCODE_PROVIDER_UNAVAILABLE,
        details={"reason": str(reason)[:300]},
    )


def _guard(call: Callable[[], T]) -> T:
    try:
        return call()
    except _TRANSIENT as exc:
        raise _unavailable(exc) from exc


def _view(job: Any, progress: float | None = None) -> JobView:
    error = None
    if job.error and (job.error.message or job.error.code):
        error = job.error.message or f"error code {job.error.code}"
    started = job.start_time if "start_time" in job else None
    started_at = started.astimezone(UTC) if isinstance(started, datetime) else None
    return JobView(name=job.name, state=job.state.name, error=error, labels=dict(job.labels), progress=progress,
                   started_at=started_at)


class Transcoder:
    """Jobs in ``projects/<project>/locations/<location>`` through ``client`` (a TranscoderServiceClient)."""

    def __init__(self, client: Any, project_id: str, location: str, endpoint: str = "",
                 session: requests.Session | None = None) -> None:
        self.client = client
        self.parent = f"projects/{project_id}/locations/{location}"
        self.endpoint = endpoint.rstrip("/")
        self._session = session or (requests.Session() if endpoint else None)

    @property
    def provider(self) -> str:
        return "local" if self.endpoint else "google_cloud"

    def create_job(self, config: Mapping[str, Any], labels: Mapping[str, str], *, mode: str = "interactive",
                   batch_priority: int = 0) -> JobView:
        """A job of ``config``; ``mode`` interactive (run now, or refused over quota) or batch (queued by
        ``batch_priority``, higher first)."""
        from google.cloud.video import transcoder_v1

        from ..transcode.ladder import to_proto

        modes = transcoder_v1.Job.ProcessingMode
        batch = mode == "batch"
        try:
            job = transcoder_v1.Job(config=to_proto(config), labels=dict(labels),
                                    mode=modes.PROCESSING_MODE_BATCH if batch else modes.PROCESSING_MODE_INTERACTIVE,
                                    batch_mode_priority=batch_priority if batch else 0)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise JobRejected(f"the job config is not a valid JobConfig: {exc}") from None
        try:
            created = _guard(lambda: self.client.create_job(parent=self.parent, job=job,
                                                            timeout=CALL_TIMEOUT_SECONDS))
        except _REJECTED as exc:
            raise JobRejected(exc.message or str(exc)) from None
        return _view(created)

    def get_job(self, name: str) -> JobView:
        try:
            job = _guard(lambda: self.client.get_job(name=name, timeout=CALL_TIMEOUT_SECONDS))
        except (gexc.NotFound, gexc.InvalidArgument) as exc:
            raise JobNotFound(exc.message or name) from None
        return _view(job, self._local_progress(name) if self.endpoint else None)

    def find_job(self, label: str, value: str) -> JobView | None:
        request = {"parent": self.parent, "filter": f'labels.{label} = "{value}"'}
        try:
            pages = _guard(lambda: list(self.client.list_jobs(request=request, timeout=CALL_TIMEOUT_SECONDS)))
        except _REJECTED:
            return None
        found = [j for j in pages if dict(j.labels).get(label) == value]
        return _view(found[0]) if found else None

    def delete_job(self, name: str) -> None:
        try:
            _guard(lambda: self.client.delete_job(name=name, timeout=CALL_TIMEOUT_SECONDS))
        except (gexc.NotFound, gexc.InvalidArgument):
            return

    def _local_progress(self, name: str) -> float | None:
        """The local emulator's progress object as one 0-1 fraction; None when it has none (best effort)."""
        assert self._session is not None
        try:
            response = self._session.get(f"{self.endpoint}/v1/{name}", timeout=5)
            parts = response.json().get("progress") if response.ok else None
        except (requests.RequestException, ValueError, AttributeError):
            return None
        if not isinstance(parts, dict):
            return None
        try:
            return sum(w * min(1.0, max(0.0, float(parts.get(k, 0.0)))) for k, w in PROGRESS_WEIGHTS.items())
        except (TypeError, ValueError):
            return None


_lock = threading.Lock()


@functools.cache
def _client(endpoint: str) -> Any:
    from google.cloud.video import transcoder_v1

    if endpoint:
        return transcoder_v1.TranscoderServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint)
        )
    return transcoder_v1.TranscoderServiceClient()


def transcoder(settings: Settings) -> Transcoder:
    """The process's Transcoder for ``settings`` (the client is created on first use, then reused)."""
    with _lock:
        try:
            client = _client(settings.transcoder_endpoint)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise _unavailable(exc) from exc
    return _transcoder(client, settings.project_id, settings.transcoder_location, settings.transcoder_endpoint)


@functools.cache
def _transcoder(client: Any, project_id: str, location: str, endpoint: str) -> Transcoder:
    return Transcoder(client, project_id, location, endpoint)

