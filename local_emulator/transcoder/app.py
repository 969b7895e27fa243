"""Wiring: store + worker pool + HTTP server, started in-process or from ``python -m local_emulator.transcoder``."""

from __future__ import annotations

import logging
import os
import threading
from typing import Self

from .runner import JobRunner
from .server import Api, Server, make_handler
from .store import Store

log = logging.getLogger("local_emulator.transcoder")


class TranscoderEmulator:
    """A running local Transcoder API. ``url`` is the ``api_endpoint`` to give the official client."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, workers: int = 1, job_timeout: float = 3600.0,
                 missing_audio: str = "skip", min_input_seconds: float = 5.0, work_dir: str | None = None,
                 storage_host: str | None = None, pubsub_host: str | None = None):
        if missing_audio not in ("skip", "fail"):
            raise ValueError("missing_audio must be 'skip' or 'fail'")
        if pubsub_host:
            os.environ["PUBSUB_EMULATOR_HOST"] = pubsub_host
        self.store = Store()
        self.runner = JobRunner(self.store, workers=workers, job_timeout=job_timeout, missing_audio=missing_audio,
                                min_input_seconds=min_input_seconds, work_dir=work_dir, storage_host=storage_host)
        self.api = Api(self.store, self.runner)
        self.httpd = Server((host, port), make_handler(self.api))
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="transcoder-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, kill running ffmpeg children, stop the workers."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.runner.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(host: str = "127.0.0.1", port: int = 0, **options) -> TranscoderEmulator:
    """Start the emulator in this process (HTTP on a daemon thread); returns it running. See TranscoderEmulator."""
    return TranscoderEmulator(host, port, **options).start()
